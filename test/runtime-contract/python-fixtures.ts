import type { ContractFixtures, LanguageCase } from './contract.js';

/**
 * Debian's python3-numpy, python3-yaml and python3-dateutil (issue 15, point 4; `npm run setup`
 * installs them), which the runtime under test has on sys.path (PYTHON_SYSTEM_PACKAGES); and a
 * package that is not installed.
 */
const PACKAGES: LanguageCase[] = [
  {
    name: 'numpy: arrays, a matrix product, a reduction, LAPACK (det, solve) on one thread',
    source:
      'import numpy as np\na = np.arange(12, dtype=np.int64).reshape(3, 4)\nm = np.array([[3.0, 1.0], [1.0, 2.0]])\nresult = {"sum": int(a.sum()), "shape": list(a.shape), "row": (a @ a.T).tolist()[0], "mean": float(a.mean()), "det": round(float(np.linalg.det(m)), 6), "solve": np.linalg.solve(m, np.array([9.0, 8.0])).round(6).tolist()}',
    result: { sum: 66, shape: [3, 4], row: [14, 38, 62], mean: 5.5, det: 5, solve: [2, 3] },
  },
  {
    name: 'numpy in a handle function, on the params',
    source: 'import numpy\n\n\ndef handle(params):\n    values = numpy.array(params["values"], dtype=float)\n    return {"median": float(numpy.median(values)), "std": round(float(values.std()), 6)}',
    params: { values: [2, 4, 4, 4, 5, 5, 7, 9] },
    result: { median: 4.5, std: 2 },
  },
  {
    name: 'yaml: safe_load, safe_dump, and python tags refused',
    source:
      'import yaml\ntry:\n    yaml.safe_load("!!python/object/apply:os.system [\'true\']")\n    refused = None\nexcept yaml.YAMLError as exc:\n    refused = type(exc).__name__\nresult = {"loaded": yaml.safe_load(params["doc"]), "dumped": yaml.safe_dump({"b": [1, 2], "a": "x"}, sort_keys=True), "refused": refused}',
    params: { doc: 'name: lambda\nitems:\n  - 1\n  - two\nnested: {k: true}' },
    result: { loaded: { name: 'lambda', items: [1, 'two'], nested: { k: true } }, dumped: 'a: x\nb:\n- 1\n- 2\n', refused: 'ConstructorError' },
  },
  {
    name: 'dateutil: parsing, relativedelta, time zones from /usr/share/zoneinfo',
    source:
      'from dateutil import parser, relativedelta, tz\nd = parser.isoparse("2024-01-31T10:00:00+02:00")\nresult = [d.astimezone(tz.UTC).isoformat(), (d + relativedelta.relativedelta(months=1)).date().isoformat(), parser.parse("March 5, 2023 4:30 PM").isoformat(), parser.isoparse("2024-07-01T12:00:00Z").astimezone(tz.gettz("Europe/Paris")).isoformat()]',
    result: ['2024-01-31T08:00:00+00:00', '2024-02-29', '2023-03-05T16:30:00', '2024-07-01T14:00:00+02:00'],
  },
  {
    name: 'a package that is not installed: ModuleNotFoundError, naming it',
    source: 'try:\n    import no_such_package_here\n    result = "imported"\nexcept ModuleNotFoundError as exc:\n    result = [type(exc).__name__, exc.name]',
    result: ['ModuleNotFoundError', 'no_such_package_here'],
  },
];

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
  cases: PACKAGES,
};
