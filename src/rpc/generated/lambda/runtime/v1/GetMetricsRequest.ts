// Original file: proto/runtime.proto


export interface GetMetricsRequest {
}

export interface GetMetricsRequest__Output {
}
