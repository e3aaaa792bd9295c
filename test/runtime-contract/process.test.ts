/**
 * The shared runtime contract against local runtime processes, the service's default: each
 * language's runtime in a sandboxed child process, reached through the same pool as remote
 * runtime servers, over frames on a socket pair.
 */
import { runRuntimeContract } from './contract.js';
import { nodejsFixtures } from './nodejs-fixtures.js';
import { localProcesses } from './process-fixtures.js';
import { pythonFixtures } from './python-fixtures.js';
import { rustFixtures } from './rust-fixtures.js';

runRuntimeContract('nodejs in runtime processes', localProcesses('nodejs', { NODEJS_POOL_SIZE: '2', NODEJS_MAX_POOL_SIZE: '4', NODEJS_MEMORY_LIMIT_MB: '64' }, 2), nodejsFixtures);
// Debian's python3-* packages for the fixtures' package cases: the runtime process binds /etc/alternatives on for its workers.
runRuntimeContract('python in a runtime process', localProcesses('python', { PYTHON_POOL_SIZE: '2', PYTHON_MAX_WORKERS: '16', PYTHON_MEMORY_LIMIT_MB: '128', PYTHON_SYSTEM_PACKAGES: 'true' }), pythonFixtures);
runRuntimeContract('rust in a runtime process', localProcesses('rust', { RUST_POOL_SIZE: '2' }), rustFixtures);
