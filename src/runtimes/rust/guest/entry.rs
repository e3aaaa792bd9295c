
// ---- lambda entry point: appended by the runtime after the user's script (never edited by users) ----
//
// Reads the event (JSON) on stdin, calls the user's `handler`, and hands the outcome to the host
// through the two `lambda` imports, so that whatever the script prints on stdout/stderr stays its
// logs. A panic is reported by the hook below, then aborts (a trap the host expects).
//
// `handler` takes `serde_json::Map<String, Value>` (the whole event), or any type serde can read
// (read from the event's `params`), optionally followed by a second one read from `context`; it
// returns `Result<R, E>` with any `R: Serialize` and `E: Display`. Params that do not fit the
// argument's type are an `InvalidParams` error with serde's message (400 INVALID_PARAMS).
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

    /// What a handler's call came to: its result's JSON, or an error (name, message).
    pub enum Outcome {
        Done(Vec<u8>),
        Failed(&'static str, String),
    }

    /// An argument of the handler from part of the event: `Map<String, Value>` as the first
    /// argument is the whole event (params, context, ...); any other type is read from `key`.
    fn argument<P: ::serde::de::DeserializeOwned + 'static>(event: &mut serde_json::Map<String, serde_json::Value>, key: &str, whole: bool) -> Result<P, Outcome> {
        let part = if whole && std::any::TypeId::of::<P>() == std::any::TypeId::of::<serde_json::Map<String, serde_json::Value>>() {
            serde_json::Value::Object(std::mem::take(event))
        } else {
            event.remove(key).unwrap_or(serde_json::Value::Null)
        };
        serde_json::from_value(part).map_err(|failure| Outcome::Failed("InvalidParams", format!("{} do not match the handler's argument: {}", key, failure)))
    }

    fn finish<R: ::serde::Serialize, E: Display>(outcome: Result<R, E>) -> Outcome {
        match outcome {
            Ok(value) => match serde_json::to_vec(&value) {
                Ok(text) => Outcome::Done(text),
                Err(failure) => Outcome::Failed("Error", format!("the result could not be serialised: {}", failure)),
            },
            Err(failure) => Outcome::Failed("Error", failure.to_string()),
        }
    }

    /// The forms of `handler` the entry point calls: `fn(P) -> Result<R, E>` and `fn(P, C) -> Result<R, E>`.
    pub trait Handler<Args> {
        fn call(self, event: serde_json::Map<String, serde_json::Value>) -> Outcome;
    }

    impl<F, P, R, E> Handler<(P,)> for F
    where
        F: FnOnce(P) -> Result<R, E>,
        P: ::serde::de::DeserializeOwned + 'static,
        R: ::serde::Serialize,
        E: Display,
    {
        fn call(self, mut event: serde_json::Map<String, serde_json::Value>) -> Outcome {
            match argument::<P>(&mut event, "params", true) {
                Ok(params) => {
                    drop(event);
                    finish(self(params))
                }
                Err(refused) => refused,
            }
        }
    }

    impl<F, P, C, R, E> Handler<(P, C)> for F
    where
        F: FnOnce(P, C) -> Result<R, E>,
        P: ::serde::de::DeserializeOwned + 'static,
        C: ::serde::de::DeserializeOwned + 'static,
        R: ::serde::Serialize,
        E: Display,
    {
        fn call(self, mut event: serde_json::Map<String, serde_json::Value>) -> Outcome {
            let params = match argument::<P>(&mut event, "params", false) {
                Ok(params) => params,
                Err(refused) => return refused,
            };
            match argument::<C>(&mut event, "context", false) {
                Ok(context) => {
                    drop(event);
                    finish(self(params, context))
                }
                Err(refused) => refused,
            }
        }
    }

    pub fn run<A, H: Handler<A>>(handler: H) {
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
        let outcome = handler.call(event);
        let _ = std::io::Write::flush(&mut std::io::stdout());
        match outcome {
            Outcome::Done(text) => unsafe { result(text.as_ptr(), text.len()) },
            Outcome::Failed(name, message) => report(name, &message, None),
        }
    }
}

fn main() {
    __lambda_entry::run(handler)
}
