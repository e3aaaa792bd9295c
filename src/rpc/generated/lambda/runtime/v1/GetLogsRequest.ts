// Original file: proto/runtime.proto


export interface GetLogsRequest {
  'limit'?: (number);
}

export interface GetLogsRequest__Output {
  'limit': (number);
}
