
// ---- lambda entry point: appended by the runtime after the user's script (never edited by users) ----
//
// Reads the event (JSON) on stdin, calls the user's `handler`, and hands the outcome to the host
// through the two `lambda` imports, so that whatever the script prints on stdout/stderr stays its
// logs. A panic is reported by the hook below, then aborts (a trap the host expects).
#[allow(dead_code, non_snake_case)]
mod __lambda_entry {
    use std::fmt::Display;

    #[link(wasm_import_module = "lambda")]
    extern "C" {
        fn result(ptr: *const u8, len: usize);
        fn error(ptr: *const u8, len: usize);
    }

    fn report(name: &str, message: &str, location: Option<&std::panic::Location<'_>>) {
        let mut fields = serde_json::Map::new();
        fields.insert("name".to_string(), serde_json::Value::from(name));
        fields.insert("message".to_string(), serde_json::Value::from(message));
        if let Some(at) = location {
            fields.insert("file".to_string(), serde_json::Value::from(at.file()));
            fields.insert("line".to_string(), serde_json::Value::from(at.line()));
            fields.insert("column".to_string(), serde_json::Value::from(at.column()));
        }
        let text = serde_json::Value::Object(fields).to_string();
        unsafe { error(text.as_ptr(), text.len()) }
    }

    pub fn run<T, E, F>(handler: F)
    where
        T: Into<serde_json::Value>,
        E: Display,
        F: FnOnce(serde_json::Map<String, serde_json::Value>) -> Result<T, E>,
    {
        std::panic::set_hook(Box::new(|info| {
            let payload = info.payload();
            let message = if let Some(text) = payload.downcast_ref::<&str>() {
                text.to_string()
            } else if let Some(text) = payload.downcast_ref::<String>() {
                text.clone()
            } else {
                "the script panicked".to_string()
            };
            report("Panic", &message, info.location());
        }));
        let mut input = String::new();
        if let Err(failure) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut input) {
            report("EventError", &format!("could not read the event: {}", failure), None);
            return;
        }
        let event: serde_json::Map<String, serde_json::Value> = match serde_json::from_str(&input) {
            Ok(event) => event,
            Err(failure) => {
                report("EventError", &format!("could not parse the event: {}", failure), None);
                return;
            }
        };
        drop(input);
        match handler(event) {
            Ok(value) => {
                let value: serde_json::Value = value.into();
                match serde_json::to_vec(&value) {
                    Ok(text) => {
                        let _ = std::io::Write::flush(&mut std::io::stdout());
                        unsafe { result(text.as_ptr(), text.len()) }
                    }
                    Err(failure) => report("Error", &format!("the result could not be serialised: {}", failure), None),
                }
            }
            Err(failure) => {
                let _ = std::io::Write::flush(&mut std::io::stdout());
                report("Error", &failure.to_string(), None)
            }
        }
    }
}

fn main() {
    __lambda_entry::run(handler)
}
