/**
 * The shared runtime contract over gRPC for Rust: a real RustRuntime (modules in memory, the
 * toolchain cache shared with the in-process tests, as runtime-server-main builds it without
 * DATABASE_URL) served by createRuntimeServer on a loopback port, reached through RemoteRuntime.
 */
import { newRustRuntime } from '../helpers/rust.js';
import { runRuntimeContract } from './contract.js';
import { servedRemote } from './remote-fixtures.js';
import { rustFixtures } from './rust-fixtures.js';

runRuntimeContract('rust over gRPC', servedRemote(() => newRustRuntime()), rustFixtures);
