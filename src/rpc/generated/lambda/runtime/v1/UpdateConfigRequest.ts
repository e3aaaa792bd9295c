// Original file: proto/runtime.proto


export interface UpdateConfigRequest {
  'log_level'?: (string);
  '_log_level'?: "log_level";
}

export interface UpdateConfigRequest__Output {
  'log_level'?: (string);
  '_log_level'?: "log_level";
}
