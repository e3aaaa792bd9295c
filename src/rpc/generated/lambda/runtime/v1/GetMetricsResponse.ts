// Original file: proto/runtime.proto


export interface GetMetricsResponse {
  'metrics_json'?: (string);
}

export interface GetMetricsResponse__Output {
  'metrics_json': (string);
}
