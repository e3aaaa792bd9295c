// Original file: proto/runtime.proto


export interface UpdateConfigResponse {
  'applied'?: (boolean);
  'message'?: (string);
}

export interface UpdateConfigResponse__Output {
  'applied': (boolean);
  'message': (string);
}
