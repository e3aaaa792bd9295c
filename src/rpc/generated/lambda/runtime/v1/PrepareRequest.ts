// Original file: proto/runtime.proto


export interface PrepareRequest {
  'script_hash'?: (string);
  'source'?: (string);
  'compile_options_json'?: (string);
  'artifact'?: (Buffer | Uint8Array | string);
  '_artifact'?: "artifact";
}

export interface PrepareRequest__Output {
  'script_hash': (string);
  'source': (string);
  'compile_options_json': (string);
  'artifact'?: (Buffer);
  '_artifact'?: "artifact";
}
