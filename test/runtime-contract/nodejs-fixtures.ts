import type { ContractFixtures } from './contract.js';

/** The Node.js scripts of the shared runtime contract, for the in-process and the gRPC runs. */
export const nodejsFixtures: ContractFixtures = {
  sum: 'return event.params.a + event.params.b;',
  echo: 'module.exports = async (event) => event.params;',
  throws: { source: 'const x = 1;\nthrow new Error("boom");', name: 'Error', line: 2 },
  logsTwoLines: { source: 'console.log("first line");\nconsole.log("second line");\nreturn true;', lines: ['first line', 'second line'] },
  infiniteLoop: 'for (;;) {}',
  memoryBomb: 'const hoard = [];\nfor (;;) hoard.push(new Array(100000).fill(1.5));',
  syntaxError: { source: 'const a = 1;\nconst b = ;\nreturn a;', line: 2 },
  nonJsonResult: { source: 'return 10n;', message: /not JSON-serialisable/ },
  counter: 'let calls = 0;\nmodule.exports = async () => {\n  calls += 1;\n  return calls;\n};',
};
