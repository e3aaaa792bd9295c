// Original file: proto/runtime.proto


export interface ReleaseResponse {
}

export interface ReleaseResponse__Output {
}
