// The service's children that no command waits for any more: a detached restore's task (the CLI
// would have exited, handing it to init), an abandoned restore's. The service collects each as it
// ends (SIGCHLD), so that none stays a zombie of the service. Only the PIDs taken in after a
// command are waited for: Node's own children (child_process) are Node's to collect.

import { readFileSync } from 'node:fs';
import { waitpid, WNOHANG, __WALL } from '../../sys/index.js';

export class Reaper {
  private readonly adopted = new Set<number>();
  private readonly onChild = () => this.collect();

  constructor() {
    process.on('SIGCHLD', this.onChild);
  }

  /** Takes in the service's children now alive (after a command, none of them is the command's). */
  adoptChildren(): void {
    let text = '';
    try {
      text = readFileSync(`/proc/self/task/${process.pid}/children`, 'latin1');
    } catch { /* no CONFIG_PROC_CHILDREN: nothing adopted */ }
    for (const p of text.split(' ')) if (/^\d+$/.test(p)) this.adopted.add(Number(p));
    this.collect();
  }

  collect(): void {
    for (const pid of this.adopted) {
      try {
        if (waitpid(pid, WNOHANG | __WALL).pid === pid) this.adopted.delete(pid);
      } catch {
        this.adopted.delete(pid); // collected by someone else
      }
    }
  }

  stop(): void {
    process.off('SIGCHLD', this.onChild);
  }
}
