// Original file: proto/runtime.proto


export interface GetLogsResponse {
  'lines'?: (string)[];
}

export interface GetLogsResponse__Output {
  'lines': (string)[];
}
