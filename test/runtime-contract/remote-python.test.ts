/**
 * The shared runtime contract over gRPC for Python: a real PythonRuntime (sandboxed workers)
 * served by createRuntimeServer on a loopback port, reached through RemoteRuntime.
 */
import { createSilentLogger } from '../../src/observability/logger.js';
import { PythonRuntime } from '../../src/runtimes/python/python-runtime.js';
import { runRuntimeContract } from './contract.js';
import { pythonFixtures } from './python-fixtures.js';
import { servedRemote } from './remote-fixtures.js';
import { PYTHON_DEFAULTS } from '../helpers/defaults.js';

runRuntimeContract(
  'python over gRPC',
  // Debian's python3-* packages on sys.path, numpy preloaded by the blank workers (the local run has no preload): the package cases run both ways.
  servedRemote(() => new PythonRuntime({ ...PYTHON_DEFAULTS, logger: createSilentLogger(), poolSize: 2, maxWorkers: 16, memoryLimitMb: 128, systemPackages: true, preload: ['numpy'] })),
  pythonFixtures,
);
