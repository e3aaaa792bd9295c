// Original file: proto/runtime.proto

import type { ExecuteStatus as _lambda_runtime_v1_ExecuteStatus, ExecuteStatus__Output as _lambda_runtime_v1_ExecuteStatus__Output } from '../../../lambda/runtime/v1/ExecuteStatus.js';
import type { ScriptError as _lambda_runtime_v1_ScriptError, ScriptError__Output as _lambda_runtime_v1_ScriptError__Output } from '../../../lambda/runtime/v1/ScriptError.js';

export interface ExecuteResponse {
  'status'?: (_lambda_runtime_v1_ExecuteStatus);
  'result_json'?: (string);
  'error'?: (_lambda_runtime_v1_ScriptError | null);
  'limit_ms'?: (number | string);
  'limit_bytes'?: (number | string);
  'message'?: (string);
  'logs'?: (string)[];
  'duration_ms'?: (number | string);
  'memory_usage_bytes'?: (number | string);
  '_memory_usage_bytes'?: "memory_usage_bytes";
}

export interface ExecuteResponse__Output {
  'status': (_lambda_runtime_v1_ExecuteStatus__Output);
  'result_json': (string);
  'error': (_lambda_runtime_v1_ScriptError__Output | null);
  'limit_ms': (number);
  'limit_bytes': (number);
  'message': (string);
  'logs': (string)[];
  'duration_ms': (number);
  'memory_usage_bytes'?: (number);
  '_memory_usage_bytes'?: "memory_usage_bytes";
}
