// Original file: proto/runtime.proto


export interface ExecuteRequest {
  'script_hash'?: (string);
  'instance_key'?: (string);
  'event_json'?: (string);
  'timeout_ms'?: (number);
}

export interface ExecuteRequest__Output {
  'script_hash': (string);
  'instance_key': (string);
  'event_json': (string);
  'timeout_ms': (number);
}
