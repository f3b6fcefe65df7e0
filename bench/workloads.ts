// The workloads: name, what it is, and the workload program's arguments.

export interface Workload {
  name: string;
  description: string;
  args: string[];
  /** Processes in the task (a dump with fewer is incomplete). */
  processes?: number;
  /** Part of the --quick smoke run. */
  quick: boolean;
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

export const WORKLOADS: readonly Workload[] = [
  { name: 'small', description: 'a counter (a small process)', args: ['small'], quick: true },
  { name: 'anon-64m', description: '64 MiB of touched anonymous memory', args: ['anon', String(64 * MiB)], quick: true },
  { name: 'anon-1g', description: '1 GiB of touched anonymous memory', args: ['anon', String(GiB)], quick: false },
  { name: 'anon-4g', description: '4 GiB of touched anonymous memory', args: ['anon', String(4 * GiB)], quick: false },
  { name: 'sparse-8g', description: 'an 8 GiB mapping, 5% of its pages touched', args: ['sparse', String(8 * GiB), '50'], quick: false },
  { name: 'vmas-10k', description: '10,000 VMAs (one page each)', args: ['vmas', '10000'], quick: false },
  { name: 'threads-100', description: '100 threads', args: ['threads', '100'], quick: true },
  { name: 'tree-50', description: 'a process tree of 50', args: ['tree', '50'], processes: 50, quick: true },
];
