// Original file: proto/runtime.proto

import type { CompileFailure as _lambda_runtime_v1_CompileFailure, CompileFailure__Output as _lambda_runtime_v1_CompileFailure__Output } from '../../../lambda/runtime/v1/CompileFailure.js';

export interface PrepareResponse {
  'ok'?: (boolean);
  'compile_ms'?: (number | string);
  'artifact'?: (Buffer | Uint8Array | string);
  'error'?: (_lambda_runtime_v1_CompileFailure | null);
  '_artifact'?: "artifact";
}

export interface PrepareResponse__Output {
  'ok': (boolean);
  'compile_ms': (number);
  'artifact'?: (Buffer);
  'error': (_lambda_runtime_v1_CompileFailure__Output | null);
  '_artifact'?: "artifact";
}
