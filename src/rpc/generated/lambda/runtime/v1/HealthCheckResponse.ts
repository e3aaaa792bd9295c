// Original file: proto/runtime.proto


export interface HealthCheckResponse {
  'status'?: (string);
  'reason'?: (string);
  'details_json'?: (string);
  '_reason'?: "reason";
}

export interface HealthCheckResponse__Output {
  'status': (string);
  'reason'?: (string);
  'details_json': (string);
  '_reason'?: "reason";
}
