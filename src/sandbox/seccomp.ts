/**
 * Small seccomp filters for the sandboxes (the Python workers, the runtime processes), handed to
 * bubblewrap (`--seccomp FD`) as a raw array of classic BPF instructions (`struct sock_filter`, 8
 * bytes each, little endian).
 *
 * bubblewrap already removes the network, other processes, the host's files and every
 * capability; the filter shrinks what is left of the kernel's surface: the system calls a script
 * has no business making and that either bypass the sandbox's accounting (SysV shared memory and
 * memfd allocate memory no rlimit counts, and outlive a killed call until the worker exits) or
 * have a history of privilege escalations (io_uring, userfaultfd, bpf, perf, keyrings, new
 * namespaces, mounts, ptrace). They fail with EPERM; anything else is allowed. A non-native ABI
 * (x32, or a 32-bit call on x86_64) kills the process, so the numbers below cannot be dodged.
 *
 * Two filters, both deny lists: bubblewrap installs the first before it starts python; the worker
 * installs the second itself once started (it cannot go in the first: python has to be exec'd),
 * forbidding execve, so a script cannot turn its worker into another program. Without a sandbox
 * (PYTHON_ALLOW_UNSANDBOXED) the worker installs both lists.
 *
 * Only x86_64 is described; elsewhere the functions return undefined and the runtime says so in
 * its health.
 */

const BPF_LD_W_ABS = 0x20;
const BPF_JMP_JEQ_K = 0x15;
const BPF_JMP_JGE_K = 0x35;
const BPF_RET_K = 0x06;

const SECCOMP_RET_KILL_PROCESS = 0x80000000;
const SECCOMP_RET_ERRNO = 0x00050000;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const EPERM = 1;

const AUDIT_ARCH_X86_64 = 0xc000003e;
/** x32 system calls are the x86_64 numbers with this bit set. */
const X32_SYSCALL_BIT = 0x40000000;

/** x86_64 numbers (arch/x86/entry/syscalls/syscall_64.tbl). */
export const DENIED_SYSCALLS_X86_64: Readonly<Record<string, number>> = {
  shmget: 29,
  shmat: 30,
  shmctl: 31,
  semget: 64,
  semop: 65,
  semctl: 66,
  shmdt: 67,
  msgget: 68,
  msgsnd: 69,
  msgrcv: 70,
  msgctl: 71,
  ptrace: 101,
  syslog: 103,
  uselib: 134,
  personality: 135,
  vhangup: 153,
  modify_ldt: 154,
  pivot_root: 155,
  _sysctl: 156,
  adjtimex: 159,
  chroot: 161,
  acct: 163,
  settimeofday: 164,
  mount: 165,
  umount2: 166,
  swapon: 167,
  swapoff: 168,
  reboot: 169,
  sethostname: 170,
  setdomainname: 171,
  iopl: 172,
  ioperm: 173,
  create_module: 174,
  init_module: 175,
  delete_module: 176,
  get_kernel_syms: 177,
  query_module: 178,
  quotactl: 179,
  nfsservctl: 180,
  lookup_dcookie: 212,
  clock_settime: 227,
  mbind: 237,
  kexec_load: 246,
  add_key: 248,
  request_key: 249,
  keyctl: 250,
  migrate_pages: 256,
  unshare: 272,
  move_pages: 279,
  perf_event_open: 298,
  fanotify_init: 300,
  name_to_handle_at: 303,
  open_by_handle_at: 304,
  clock_adjtime: 305,
  setns: 308,
  process_vm_readv: 310,
  process_vm_writev: 311,
  kcmp: 312,
  finit_module: 313,
  memfd_create: 319,
  kexec_file_load: 320,
  bpf: 321,
  userfaultfd: 323,
  io_uring_setup: 425,
  io_uring_enter: 426,
  io_uring_register: 427,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  fspick: 433,
  pidfd_getfd: 438,
  process_madvise: 440,
  mount_setattr: 442,
  quotactl_fd: 443,
  memfd_secret: 447,
};

/** Replacing the worker's program: allowed once (bubblewrap starting python), then never. */
export const EXEC_SYSCALLS_X86_64: Readonly<Record<string, number>> = {
  execve: 59,
  execveat: 322,
};

function instruction(code: number, jt: number, jf: number, k: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeUInt16LE(code, 0);
  out.writeUInt8(jt, 2);
  out.writeUInt8(jf, 3);
  out.writeUInt32LE(k >>> 0, 4);
  return out;
}

/** bubblewrap's filter (`--seccomp`), or undefined where this machine has no table here. */
export function sandboxSeccompFilter(arch: string = process.arch): Buffer | undefined {
  return arch === 'x64' ? denyList(Object.values(DENIED_SYSCALLS_X86_64)) : undefined;
}

/**
 * What a runtime process needs beyond the workers' allowance: the Python and Rust runtime
 * processes start sandboxes of their own (bubblewrap builds namespaces and mounts), so for them
 * these stay allowed; the Node.js runtime process gets the workers' whole list.
 */
const NESTED_SANDBOX_SYSCALLS = new Set(['unshare', 'mount', 'umount2', 'pivot_root', 'chroot', 'sethostname', 'setns']);

/** The filter of a runtime process (src/sandbox/runtime-sandbox.ts), or undefined where this machine has no table here. */
export function runtimeProcessSeccompFilter(options: { nestedSandboxes: boolean }, arch: string = process.arch): Buffer | undefined {
  if (arch !== 'x64') return undefined;
  const denied = Object.entries(DENIED_SYSCALLS_X86_64)
    .filter(([name]) => !(options.nestedSandboxes && NESTED_SANDBOX_SYSCALLS.has(name)))
    .map(([, nr]) => nr);
  return denyList(denied);
}

/** The filter the worker installs on itself once started; with `everything`, the sandbox's list too. */
export function workerSeccompFilter(options: { everything: boolean }, arch: string = process.arch): Buffer | undefined {
  if (arch !== 'x64') return undefined;
  const numbers = Object.values(EXEC_SYSCALLS_X86_64);
  return denyList(options.everything ? [...numbers, ...Object.values(DENIED_SYSCALLS_X86_64)] : numbers);
}

/** A filter that fails the given x86_64 system calls with EPERM and allows the rest. */
function denyList(syscalls: readonly number[]): Buffer {
  const numbers = [...new Set(syscalls)].sort((a, b) => a - b);
  const program: Buffer[] = [];
  // Offsets into struct seccomp_data: nr at 0, arch at 4.
  program.push(instruction(BPF_LD_W_ABS, 0, 0, 4));
  program.push(instruction(BPF_JMP_JEQ_K, 1, 0, AUDIT_ARCH_X86_64));
  program.push(instruction(BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS));
  program.push(instruction(BPF_LD_W_ABS, 0, 0, 0));
  // Layout: 4 loads/checks, the x32 test, one comparison per number, allow, deny.
  const denyIndex = 5 + numbers.length + 1;
  const jumpToDeny = (index: number): number => {
    const offset = denyIndex - index - 1;
    if (offset > 255) throw new Error('seccomp filter too long for 8-bit jumps');
    return offset;
  };
  program.push(instruction(BPF_JMP_JGE_K, jumpToDeny(program.length), 0, X32_SYSCALL_BIT));
  for (const nr of numbers) program.push(instruction(BPF_JMP_JEQ_K, jumpToDeny(program.length), 0, nr));
  program.push(instruction(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW));
  if (program.length !== denyIndex) throw new Error('seccomp filter layout is off');
  program.push(instruction(BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM));
  return Buffer.concat(program);
}
