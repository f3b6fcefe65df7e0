// timerfd (TIMERFD): clock, the time left and the interval as fdinfo shows them, expirations not
// yet read (ticks), settime flags (timerfd_entry). Like CRIU, the timer is armed once every
// descriptor is in place, with the time that was left at dump; ticks go back with
// TFD_IOC_SET_TICKS. An absolute timer is armed at now + the time that was left. Unlike
// CRIU 4.2 (which disarms it), a periodic timer with unread expirations keeps its interval.
import type { FdKind } from './kind.js';
import { isAnon, setFileFlags, taskCall } from './anon.js';
import { O_CLOEXEC, big, num } from '../shared/constants.js';
import { hostKernelAbi } from '../arch/host-abi.js';
import { readI64, writeU64, writeI64 } from '../sys/native-endian.js';

const TFD_TIMER_ABSTIME = 1;
/** _IOW('T', 0, u64), whose direction bits are the architecture's. */
const TFD_IOC_SET_TICKS = hostKernelAbi().ioctls.TFD_IOC_SET_TICKS;
const NSEC = 1_000_000_000n;

export const timerfdKind: FdKind = {
  type: 'TIMERFD', field: 'tfd', name: 'a timerfd',
  matches: (c) => isAnon(c, 'timerfd') && c.info.timerfd !== undefined,
  dump(c) {
    const t = c.info.timerfd!;
    return {
      id: c.id, flags: c.flags, fown: c.fown, clockid: t.clockId, ticks: t.ticks, settime_flags: t.settimeFlags,
      vsec: t.value.sec, vnsec: BigInt(t.value.nsec), isec: t.interval.sec, insec: BigInt(t.interval.nsec),
    };
  },
  restore({ ctx, session, entry, why }) {
    const clock = num(entry.clockid);
    const fd = Number(taskCall(ctx, why, 'timerfd_create', clock, O_CLOEXEC));
    setFileFlags(ctx, fd, num(entry.flags));
    session.later(() => {
      const flags = num(entry.settime_flags);
      const interval = big(entry.isec) * NSEC + big(entry.insec);
      let value = big(entry.vsec) * NSEC + big(entry.vnsec);
      // A periodic timer that expired and was not read yet shows 0 left (the kernel moves it on at
      // the next read): it goes on ticking one interval from now, with its unread ticks.
      if (value === 0n && interval !== 0n) value = interval;
      const armed = value !== 0n;
      if (armed && (flags & TFD_TIMER_ABSTIME)) {
        taskCall(ctx, why, 'clock_gettime', clock, ctx.put(Buffer.alloc(16), 256));
        const now = ctx.get(256, 16);
        value += readI64(now, 0) * NSEC + readI64(now, 8);
      }
      const its = Buffer.alloc(32); // struct itimerspec { it_interval, it_value }
      writeI64(its, big(entry.isec), 0);
      writeI64(its, big(entry.insec), 8);
      writeI64(its, value / NSEC, 16);
      writeI64(its, value % NSEC, 24);
      if (armed) taskCall(ctx, why, 'timerfd_settime', fd, flags, ctx.put(its, 256), 0);
      const ticks = big(entry.ticks);
      if (ticks > 0n) {
        const b = Buffer.alloc(8);
        writeU64(b, ticks, 0);
        taskCall(ctx, why, 'ioctl', fd, TFD_IOC_SET_TICKS, ctx.put(b, 256));
      }
    });
    return fd;
  },
};
