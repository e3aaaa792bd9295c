import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { CompileFailure as _lambda_runtime_v1_CompileFailure, CompileFailure__Output as _lambda_runtime_v1_CompileFailure__Output } from './lambda/runtime/v1/CompileFailure.js';
import type { ExecuteRequest as _lambda_runtime_v1_ExecuteRequest, ExecuteRequest__Output as _lambda_runtime_v1_ExecuteRequest__Output } from './lambda/runtime/v1/ExecuteRequest.js';
import type { ExecuteResponse as _lambda_runtime_v1_ExecuteResponse, ExecuteResponse__Output as _lambda_runtime_v1_ExecuteResponse__Output } from './lambda/runtime/v1/ExecuteResponse.js';
import type { GetLogsRequest as _lambda_runtime_v1_GetLogsRequest, GetLogsRequest__Output as _lambda_runtime_v1_GetLogsRequest__Output } from './lambda/runtime/v1/GetLogsRequest.js';
import type { GetLogsResponse as _lambda_runtime_v1_GetLogsResponse, GetLogsResponse__Output as _lambda_runtime_v1_GetLogsResponse__Output } from './lambda/runtime/v1/GetLogsResponse.js';
import type { GetMetricsRequest as _lambda_runtime_v1_GetMetricsRequest, GetMetricsRequest__Output as _lambda_runtime_v1_GetMetricsRequest__Output } from './lambda/runtime/v1/GetMetricsRequest.js';
import type { GetMetricsResponse as _lambda_runtime_v1_GetMetricsResponse, GetMetricsResponse__Output as _lambda_runtime_v1_GetMetricsResponse__Output } from './lambda/runtime/v1/GetMetricsResponse.js';
import type { HealthCheckRequest as _lambda_runtime_v1_HealthCheckRequest, HealthCheckRequest__Output as _lambda_runtime_v1_HealthCheckRequest__Output } from './lambda/runtime/v1/HealthCheckRequest.js';
import type { HealthCheckResponse as _lambda_runtime_v1_HealthCheckResponse, HealthCheckResponse__Output as _lambda_runtime_v1_HealthCheckResponse__Output } from './lambda/runtime/v1/HealthCheckResponse.js';
import type { PrepareRequest as _lambda_runtime_v1_PrepareRequest, PrepareRequest__Output as _lambda_runtime_v1_PrepareRequest__Output } from './lambda/runtime/v1/PrepareRequest.js';
import type { PrepareResponse as _lambda_runtime_v1_PrepareResponse, PrepareResponse__Output as _lambda_runtime_v1_PrepareResponse__Output } from './lambda/runtime/v1/PrepareResponse.js';
import type { ReleaseRequest as _lambda_runtime_v1_ReleaseRequest, ReleaseRequest__Output as _lambda_runtime_v1_ReleaseRequest__Output } from './lambda/runtime/v1/ReleaseRequest.js';
import type { ReleaseResponse as _lambda_runtime_v1_ReleaseResponse, ReleaseResponse__Output as _lambda_runtime_v1_ReleaseResponse__Output } from './lambda/runtime/v1/ReleaseResponse.js';
import type { RuntimeServiceClient as _lambda_runtime_v1_RuntimeServiceClient, RuntimeServiceDefinition as _lambda_runtime_v1_RuntimeServiceDefinition } from './lambda/runtime/v1/RuntimeService.js';
import type { ScriptError as _lambda_runtime_v1_ScriptError, ScriptError__Output as _lambda_runtime_v1_ScriptError__Output } from './lambda/runtime/v1/ScriptError.js';
import type { UpdateConfigRequest as _lambda_runtime_v1_UpdateConfigRequest, UpdateConfigRequest__Output as _lambda_runtime_v1_UpdateConfigRequest__Output } from './lambda/runtime/v1/UpdateConfigRequest.js';
import type { UpdateConfigResponse as _lambda_runtime_v1_UpdateConfigResponse, UpdateConfigResponse__Output as _lambda_runtime_v1_UpdateConfigResponse__Output } from './lambda/runtime/v1/UpdateConfigResponse.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  lambda: {
    runtime: {
      v1: {
        CompileFailure: MessageTypeDefinition<_lambda_runtime_v1_CompileFailure, _lambda_runtime_v1_CompileFailure__Output>
        ExecuteRequest: MessageTypeDefinition<_lambda_runtime_v1_ExecuteRequest, _lambda_runtime_v1_ExecuteRequest__Output>
        ExecuteResponse: MessageTypeDefinition<_lambda_runtime_v1_ExecuteResponse, _lambda_runtime_v1_ExecuteResponse__Output>
        ExecuteStatus: EnumTypeDefinition
        GetLogsRequest: MessageTypeDefinition<_lambda_runtime_v1_GetLogsRequest, _lambda_runtime_v1_GetLogsRequest__Output>
        GetLogsResponse: MessageTypeDefinition<_lambda_runtime_v1_GetLogsResponse, _lambda_runtime_v1_GetLogsResponse__Output>
        GetMetricsRequest: MessageTypeDefinition<_lambda_runtime_v1_GetMetricsRequest, _lambda_runtime_v1_GetMetricsRequest__Output>
        GetMetricsResponse: MessageTypeDefinition<_lambda_runtime_v1_GetMetricsResponse, _lambda_runtime_v1_GetMetricsResponse__Output>
        HealthCheckRequest: MessageTypeDefinition<_lambda_runtime_v1_HealthCheckRequest, _lambda_runtime_v1_HealthCheckRequest__Output>
        HealthCheckResponse: MessageTypeDefinition<_lambda_runtime_v1_HealthCheckResponse, _lambda_runtime_v1_HealthCheckResponse__Output>
        PrepareRequest: MessageTypeDefinition<_lambda_runtime_v1_PrepareRequest, _lambda_runtime_v1_PrepareRequest__Output>
        PrepareResponse: MessageTypeDefinition<_lambda_runtime_v1_PrepareResponse, _lambda_runtime_v1_PrepareResponse__Output>
        ReleaseRequest: MessageTypeDefinition<_lambda_runtime_v1_ReleaseRequest, _lambda_runtime_v1_ReleaseRequest__Output>
        ReleaseResponse: MessageTypeDefinition<_lambda_runtime_v1_ReleaseResponse, _lambda_runtime_v1_ReleaseResponse__Output>
        RuntimeService: SubtypeConstructor<typeof grpc.Client, _lambda_runtime_v1_RuntimeServiceClient> & { service: _lambda_runtime_v1_RuntimeServiceDefinition }
        ScriptError: MessageTypeDefinition<_lambda_runtime_v1_ScriptError, _lambda_runtime_v1_ScriptError__Output>
        UpdateConfigRequest: MessageTypeDefinition<_lambda_runtime_v1_UpdateConfigRequest, _lambda_runtime_v1_UpdateConfigRequest__Output>
        UpdateConfigResponse: MessageTypeDefinition<_lambda_runtime_v1_UpdateConfigResponse, _lambda_runtime_v1_UpdateConfigResponse__Output>
      }
    }
  }
}

