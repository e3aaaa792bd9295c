// Original file: proto/runtime.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { ExecuteRequest as _lambda_runtime_v1_ExecuteRequest, ExecuteRequest__Output as _lambda_runtime_v1_ExecuteRequest__Output } from '../../../lambda/runtime/v1/ExecuteRequest.js';
import type { ExecuteResponse as _lambda_runtime_v1_ExecuteResponse, ExecuteResponse__Output as _lambda_runtime_v1_ExecuteResponse__Output } from '../../../lambda/runtime/v1/ExecuteResponse.js';
import type { GetLogsRequest as _lambda_runtime_v1_GetLogsRequest, GetLogsRequest__Output as _lambda_runtime_v1_GetLogsRequest__Output } from '../../../lambda/runtime/v1/GetLogsRequest.js';
import type { GetLogsResponse as _lambda_runtime_v1_GetLogsResponse, GetLogsResponse__Output as _lambda_runtime_v1_GetLogsResponse__Output } from '../../../lambda/runtime/v1/GetLogsResponse.js';
import type { GetMetricsRequest as _lambda_runtime_v1_GetMetricsRequest, GetMetricsRequest__Output as _lambda_runtime_v1_GetMetricsRequest__Output } from '../../../lambda/runtime/v1/GetMetricsRequest.js';
import type { GetMetricsResponse as _lambda_runtime_v1_GetMetricsResponse, GetMetricsResponse__Output as _lambda_runtime_v1_GetMetricsResponse__Output } from '../../../lambda/runtime/v1/GetMetricsResponse.js';
import type { HealthCheckRequest as _lambda_runtime_v1_HealthCheckRequest, HealthCheckRequest__Output as _lambda_runtime_v1_HealthCheckRequest__Output } from '../../../lambda/runtime/v1/HealthCheckRequest.js';
import type { HealthCheckResponse as _lambda_runtime_v1_HealthCheckResponse, HealthCheckResponse__Output as _lambda_runtime_v1_HealthCheckResponse__Output } from '../../../lambda/runtime/v1/HealthCheckResponse.js';
import type { PrepareRequest as _lambda_runtime_v1_PrepareRequest, PrepareRequest__Output as _lambda_runtime_v1_PrepareRequest__Output } from '../../../lambda/runtime/v1/PrepareRequest.js';
import type { PrepareResponse as _lambda_runtime_v1_PrepareResponse, PrepareResponse__Output as _lambda_runtime_v1_PrepareResponse__Output } from '../../../lambda/runtime/v1/PrepareResponse.js';
import type { ReleaseRequest as _lambda_runtime_v1_ReleaseRequest, ReleaseRequest__Output as _lambda_runtime_v1_ReleaseRequest__Output } from '../../../lambda/runtime/v1/ReleaseRequest.js';
import type { ReleaseResponse as _lambda_runtime_v1_ReleaseResponse, ReleaseResponse__Output as _lambda_runtime_v1_ReleaseResponse__Output } from '../../../lambda/runtime/v1/ReleaseResponse.js';
import type { UpdateConfigRequest as _lambda_runtime_v1_UpdateConfigRequest, UpdateConfigRequest__Output as _lambda_runtime_v1_UpdateConfigRequest__Output } from '../../../lambda/runtime/v1/UpdateConfigRequest.js';
import type { UpdateConfigResponse as _lambda_runtime_v1_UpdateConfigResponse, UpdateConfigResponse__Output as _lambda_runtime_v1_UpdateConfigResponse__Output } from '../../../lambda/runtime/v1/UpdateConfigResponse.js';

export interface RuntimeServiceClient extends grpc.Client {
  Execute(argument: _lambda_runtime_v1_ExecuteRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_ExecuteResponse__Output>): grpc.ClientUnaryCall;
  Execute(argument: _lambda_runtime_v1_ExecuteRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lambda_runtime_v1_ExecuteResponse__Output>): grpc.ClientUnaryCall;
  Execute(argument: _lambda_runtime_v1_ExecuteRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_ExecuteResponse__Output>): grpc.ClientUnaryCall;
  Execute(argument: _lambda_runtime_v1_ExecuteRequest, callback: grpc.requestCallback<_lambda_runtime_v1_ExecuteResponse__Output>): grpc.ClientUnaryCall;
  execute(argument: _lambda_runtime_v1_ExecuteRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_ExecuteResponse__Output>): grpc.ClientUnaryCall;
  execute(argument: _lambda_runtime_v1_ExecuteRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lambda_runtime_v1_ExecuteResponse__Output>): grpc.ClientUnaryCall;
  execute(argument: _lambda_runtime_v1_ExecuteRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_ExecuteResponse__Output>): grpc.ClientUnaryCall;
  execute(argument: _lambda_runtime_v1_ExecuteRequest, callback: grpc.requestCallback<_lambda_runtime_v1_ExecuteResponse__Output>): grpc.ClientUnaryCall;
  
  GetLogs(argument: _lambda_runtime_v1_GetLogsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_GetLogsResponse__Output>): grpc.ClientUnaryCall;
  GetLogs(argument: _lambda_runtime_v1_GetLogsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lambda_runtime_v1_GetLogsResponse__Output>): grpc.ClientUnaryCall;
  GetLogs(argument: _lambda_runtime_v1_GetLogsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_GetLogsResponse__Output>): grpc.ClientUnaryCall;
  GetLogs(argument: _lambda_runtime_v1_GetLogsRequest, callback: grpc.requestCallback<_lambda_runtime_v1_GetLogsResponse__Output>): grpc.ClientUnaryCall;
  getLogs(argument: _lambda_runtime_v1_GetLogsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_GetLogsResponse__Output>): grpc.ClientUnaryCall;
  getLogs(argument: _lambda_runtime_v1_GetLogsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lambda_runtime_v1_GetLogsResponse__Output>): grpc.ClientUnaryCall;
  getLogs(argument: _lambda_runtime_v1_GetLogsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_GetLogsResponse__Output>): grpc.ClientUnaryCall;
  getLogs(argument: _lambda_runtime_v1_GetLogsRequest, callback: grpc.requestCallback<_lambda_runtime_v1_GetLogsResponse__Output>): grpc.ClientUnaryCall;
  
  GetMetrics(argument: _lambda_runtime_v1_GetMetricsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_GetMetricsResponse__Output>): grpc.ClientUnaryCall;
  GetMetrics(argument: _lambda_runtime_v1_GetMetricsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lambda_runtime_v1_GetMetricsResponse__Output>): grpc.ClientUnaryCall;
  GetMetrics(argument: _lambda_runtime_v1_GetMetricsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_GetMetricsResponse__Output>): grpc.ClientUnaryCall;
  GetMetrics(argument: _lambda_runtime_v1_GetMetricsRequest, callback: grpc.requestCallback<_lambda_runtime_v1_GetMetricsResponse__Output>): grpc.ClientUnaryCall;
  getMetrics(argument: _lambda_runtime_v1_GetMetricsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_GetMetricsResponse__Output>): grpc.ClientUnaryCall;
  getMetrics(argument: _lambda_runtime_v1_GetMetricsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lambda_runtime_v1_GetMetricsResponse__Output>): grpc.ClientUnaryCall;
  getMetrics(argument: _lambda_runtime_v1_GetMetricsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_GetMetricsResponse__Output>): grpc.ClientUnaryCall;
  getMetrics(argument: _lambda_runtime_v1_GetMetricsRequest, callback: grpc.requestCallback<_lambda_runtime_v1_GetMetricsResponse__Output>): grpc.ClientUnaryCall;
  
  HealthCheck(argument: _lambda_runtime_v1_HealthCheckRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_HealthCheckResponse__Output>): grpc.ClientUnaryCall;
  HealthCheck(argument: _lambda_runtime_v1_HealthCheckRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lambda_runtime_v1_HealthCheckResponse__Output>): grpc.ClientUnaryCall;
  HealthCheck(argument: _lambda_runtime_v1_HealthCheckRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_HealthCheckResponse__Output>): grpc.ClientUnaryCall;
  HealthCheck(argument: _lambda_runtime_v1_HealthCheckRequest, callback: grpc.requestCallback<_lambda_runtime_v1_HealthCheckResponse__Output>): grpc.ClientUnaryCall;
  healthCheck(argument: _lambda_runtime_v1_HealthCheckRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_HealthCheckResponse__Output>): grpc.ClientUnaryCall;
  healthCheck(argument: _lambda_runtime_v1_HealthCheckRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lambda_runtime_v1_HealthCheckResponse__Output>): grpc.ClientUnaryCall;
  healthCheck(argument: _lambda_runtime_v1_HealthCheckRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_HealthCheckResponse__Output>): grpc.ClientUnaryCall;
  healthCheck(argument: _lambda_runtime_v1_HealthCheckRequest, callback: grpc.requestCallback<_lambda_runtime_v1_HealthCheckResponse__Output>): grpc.ClientUnaryCall;
  
  Prepare(argument: _lambda_runtime_v1_PrepareRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_PrepareResponse__Output>): grpc.ClientUnaryCall;
  Prepare(argument: _lambda_runtime_v1_PrepareRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lambda_runtime_v1_PrepareResponse__Output>): grpc.ClientUnaryCall;
  Prepare(argument: _lambda_runtime_v1_PrepareRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_PrepareResponse__Output>): grpc.ClientUnaryCall;
  Prepare(argument: _lambda_runtime_v1_PrepareRequest, callback: grpc.requestCallback<_lambda_runtime_v1_PrepareResponse__Output>): grpc.ClientUnaryCall;
  prepare(argument: _lambda_runtime_v1_PrepareRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_PrepareResponse__Output>): grpc.ClientUnaryCall;
  prepare(argument: _lambda_runtime_v1_PrepareRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lambda_runtime_v1_PrepareResponse__Output>): grpc.ClientUnaryCall;
  prepare(argument: _lambda_runtime_v1_PrepareRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_PrepareResponse__Output>): grpc.ClientUnaryCall;
  prepare(argument: _lambda_runtime_v1_PrepareRequest, callback: grpc.requestCallback<_lambda_runtime_v1_PrepareResponse__Output>): grpc.ClientUnaryCall;
  
  Release(argument: _lambda_runtime_v1_ReleaseRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_ReleaseResponse__Output>): grpc.ClientUnaryCall;
  Release(argument: _lambda_runtime_v1_ReleaseRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lambda_runtime_v1_ReleaseResponse__Output>): grpc.ClientUnaryCall;
  Release(argument: _lambda_runtime_v1_ReleaseRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_ReleaseResponse__Output>): grpc.ClientUnaryCall;
  Release(argument: _lambda_runtime_v1_ReleaseRequest, callback: grpc.requestCallback<_lambda_runtime_v1_ReleaseResponse__Output>): grpc.ClientUnaryCall;
  release(argument: _lambda_runtime_v1_ReleaseRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_ReleaseResponse__Output>): grpc.ClientUnaryCall;
  release(argument: _lambda_runtime_v1_ReleaseRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lambda_runtime_v1_ReleaseResponse__Output>): grpc.ClientUnaryCall;
  release(argument: _lambda_runtime_v1_ReleaseRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_ReleaseResponse__Output>): grpc.ClientUnaryCall;
  release(argument: _lambda_runtime_v1_ReleaseRequest, callback: grpc.requestCallback<_lambda_runtime_v1_ReleaseResponse__Output>): grpc.ClientUnaryCall;
  
  UpdateConfig(argument: _lambda_runtime_v1_UpdateConfigRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_UpdateConfigResponse__Output>): grpc.ClientUnaryCall;
  UpdateConfig(argument: _lambda_runtime_v1_UpdateConfigRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lambda_runtime_v1_UpdateConfigResponse__Output>): grpc.ClientUnaryCall;
  UpdateConfig(argument: _lambda_runtime_v1_UpdateConfigRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_UpdateConfigResponse__Output>): grpc.ClientUnaryCall;
  UpdateConfig(argument: _lambda_runtime_v1_UpdateConfigRequest, callback: grpc.requestCallback<_lambda_runtime_v1_UpdateConfigResponse__Output>): grpc.ClientUnaryCall;
  updateConfig(argument: _lambda_runtime_v1_UpdateConfigRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_UpdateConfigResponse__Output>): grpc.ClientUnaryCall;
  updateConfig(argument: _lambda_runtime_v1_UpdateConfigRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lambda_runtime_v1_UpdateConfigResponse__Output>): grpc.ClientUnaryCall;
  updateConfig(argument: _lambda_runtime_v1_UpdateConfigRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lambda_runtime_v1_UpdateConfigResponse__Output>): grpc.ClientUnaryCall;
  updateConfig(argument: _lambda_runtime_v1_UpdateConfigRequest, callback: grpc.requestCallback<_lambda_runtime_v1_UpdateConfigResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface RuntimeServiceHandlers extends grpc.UntypedServiceImplementation {
  Execute: grpc.handleUnaryCall<_lambda_runtime_v1_ExecuteRequest__Output, _lambda_runtime_v1_ExecuteResponse>;
  
  GetLogs: grpc.handleUnaryCall<_lambda_runtime_v1_GetLogsRequest__Output, _lambda_runtime_v1_GetLogsResponse>;
  
  GetMetrics: grpc.handleUnaryCall<_lambda_runtime_v1_GetMetricsRequest__Output, _lambda_runtime_v1_GetMetricsResponse>;
  
  HealthCheck: grpc.handleUnaryCall<_lambda_runtime_v1_HealthCheckRequest__Output, _lambda_runtime_v1_HealthCheckResponse>;
  
  Prepare: grpc.handleUnaryCall<_lambda_runtime_v1_PrepareRequest__Output, _lambda_runtime_v1_PrepareResponse>;
  
  Release: grpc.handleUnaryCall<_lambda_runtime_v1_ReleaseRequest__Output, _lambda_runtime_v1_ReleaseResponse>;
  
  UpdateConfig: grpc.handleUnaryCall<_lambda_runtime_v1_UpdateConfigRequest__Output, _lambda_runtime_v1_UpdateConfigResponse>;
  
}

export interface RuntimeServiceDefinition extends grpc.ServiceDefinition {
  Execute: MethodDefinition<_lambda_runtime_v1_ExecuteRequest, _lambda_runtime_v1_ExecuteResponse, _lambda_runtime_v1_ExecuteRequest__Output, _lambda_runtime_v1_ExecuteResponse__Output>
  GetLogs: MethodDefinition<_lambda_runtime_v1_GetLogsRequest, _lambda_runtime_v1_GetLogsResponse, _lambda_runtime_v1_GetLogsRequest__Output, _lambda_runtime_v1_GetLogsResponse__Output>
  GetMetrics: MethodDefinition<_lambda_runtime_v1_GetMetricsRequest, _lambda_runtime_v1_GetMetricsResponse, _lambda_runtime_v1_GetMetricsRequest__Output, _lambda_runtime_v1_GetMetricsResponse__Output>
  HealthCheck: MethodDefinition<_lambda_runtime_v1_HealthCheckRequest, _lambda_runtime_v1_HealthCheckResponse, _lambda_runtime_v1_HealthCheckRequest__Output, _lambda_runtime_v1_HealthCheckResponse__Output>
  Prepare: MethodDefinition<_lambda_runtime_v1_PrepareRequest, _lambda_runtime_v1_PrepareResponse, _lambda_runtime_v1_PrepareRequest__Output, _lambda_runtime_v1_PrepareResponse__Output>
  Release: MethodDefinition<_lambda_runtime_v1_ReleaseRequest, _lambda_runtime_v1_ReleaseResponse, _lambda_runtime_v1_ReleaseRequest__Output, _lambda_runtime_v1_ReleaseResponse__Output>
  UpdateConfig: MethodDefinition<_lambda_runtime_v1_UpdateConfigRequest, _lambda_runtime_v1_UpdateConfigResponse, _lambda_runtime_v1_UpdateConfigRequest__Output, _lambda_runtime_v1_UpdateConfigResponse__Output>
}
