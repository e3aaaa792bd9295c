/**
 * @lambda-microservice/client: a typed client for the Lambda Microservice HTTP API. The types come
 * from the service's OpenAPI document (`npm run gen:client` regenerates them); requests go through
 * openapi-fetch.
 *
 * ```ts
 * const lambda = createLambdaClient({ baseUrl: 'http://127.0.0.1:8080' });
 * const { result, request_id } = await lambda.run('nodejs-add', 'return event.params.a + event.params.b;', { a: 1, b: 2 });
 * ```
 */
export { CLIENT_VERSION, createLambdaClient, type ExecuteOptions, type InitializeOptions, type LambdaClient, type LambdaClientOptions, type RunOptions } from './client.js';
export { LambdaApiError, LambdaNetworkError, NON_ENVELOPE_CODE } from './errors.js';
export type * from './types.js';
