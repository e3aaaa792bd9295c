// Original file: proto/runtime.proto


export interface ReleaseRequest {
  'instance_key'?: (string);
}

export interface ReleaseRequest__Output {
  'instance_key': (string);
}
