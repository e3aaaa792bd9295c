import type { ContractFixtures } from './contract.js';

/** The Python scripts of the shared runtime contract, for the in-process and the gRPC runs. */
export const pythonFixtures: ContractFixtures = {
  sum: 'result = params["a"] + params["b"]',
  echo: 'def handler(event):\n    return event["params"]',
  throws: { source: 'x = 1\nraise ValueError("boom")', name: 'ValueError', line: 2 },
  logsTwoLines: { source: 'print("first line")\nprint("second line")\nresult = True', lines: ['first line', 'second line'] },
  infiniteLoop: 'while True:\n    pass',
  memoryBomb: 'hoard = []\nwhile True:\n    hoard.append(bytearray(8 * 1024 * 1024))',
  syntaxError: { source: 'a = 1\nb = = 2\nresult = a', line: 2 },
  nonJsonResult: { source: 'result = {1, 2, 3}', message: /not JSON-serialisable/ },
  counter: 'calls = 0\n\n\ndef handle(params):\n    global calls\n    calls += 1\n    return calls',
};
