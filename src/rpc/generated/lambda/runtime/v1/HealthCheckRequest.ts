// Original file: proto/runtime.proto


export interface HealthCheckRequest {
}

export interface HealthCheckRequest__Output {
}
