/* rt-regs-ia32: a 32-bit x86 task's registers come back exactly as they were (built for i386 only).
 * usage: rt-regs-ia32 OUTFILE DIR
 * One asm block loads known values into ebx, ecx, edx, esi, edi, ebp, xmm0-7, two x87 registers,
 * the x87 control word and MXCSR, then sits in pause() through int 0x80 (the dump stops it inside:
 * ERESTARTNOHAND) until SIGTERM's handler sets a flag, and stores everything back. Also checks a
 * __thread variable (through %gs, GDT TLS slot 12) and a second TLS slot made with
 * set_thread_area and loaded into %fs, and that a new mapping still works. xmm word w of register n = 0xA5000000 | n << 16 | w.
 * READY fsidx=ENTRY */
#include "rt.h"
#include <asm/ldt.h>
#include <stdint.h>
#include <sys/mman.h>

#ifndef __i386__
#error rt-regs-ia32 is a 32-bit x86 program
#endif

uint32_t rt_vin[8][4] __attribute__((aligned(16)));
uint32_t rt_vout[8][4] __attribute__((aligned(16)));
uint32_t rt_gout[6];
uint16_t rt_fcw_in = 0x0c7f, rt_fcw_out;
uint32_t rt_mxcsr_in = 0x7f80, rt_mxcsr_out;
long double rt_st_out[2];
static __thread uint32_t tls_value = 0x71577157u;
static uint32_t fs_area[2] = { 0x65656565u, 0 };

static const uint32_t GP_WANT[6] = { 0x0b0b0b0b, 0x0c0c0c0c, 0x0d0d0d0d, 0x05050505, 0x07070707, 0x0e0e0e0e };

#define V(n) "movaps rt_vin+" #n "*16, %%xmm" #n "\n"
#define VS(n) "movaps %%xmm" #n ", rt_vout+" #n "*16\n"
#define ALL8(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7)

int main(int argc, char **argv) {
  rt_start(argc, argv);
  for (int n = 0; n < 8; n++) for (int w = 0; w < 4; w++) rt_vin[n][w] = 0xA5000000u | n << 16 | w;
  struct user_desc d = { .entry_number = -1, .base_addr = (uintptr_t)fs_area, .limit = 0xfffff, .seg_32bit = 1,
                         .limit_in_pages = 1, .useable = 1 };
  if (syscall(SYS_set_thread_area, &d) != 0) RT_FAIL("set_thread_area: %s", strerror(errno));
  uint16_t fsel = d.entry_number * 8 + 3;
  __asm__ volatile("mov %0, %%fs" :: "r"(fsel));
  rt_ready("fsidx=%u\n", d.entry_number);
  for (;;) {
    __asm__ volatile(
      "fldcw rt_fcw_in\n ldmxcsr rt_mxcsr_in\n fld1\n fldpi\n"
      ALL8(V)
      "push %%ebp\n"
      "mov $0x0b0b0b0b, %%ebx\n mov $0x0c0c0c0c, %%ecx\n mov $0x0d0d0d0d, %%edx\n"
      "mov $0x05050505, %%esi\n mov $0x07070707, %%edi\n mov $0x0e0e0e0e, %%ebp\n"
      "mov $29, %%eax\n int $0x80\n"
      "mov %%ebx, rt_gout\n mov %%ecx, rt_gout+4\n mov %%edx, rt_gout+8\n"
      "mov %%esi, rt_gout+12\n mov %%edi, rt_gout+16\n mov %%ebp, rt_gout+20\n"
      "pop %%ebp\n"
      ALL8(VS)
      "fnstcw rt_fcw_out\n stmxcsr rt_mxcsr_out\n fstpt rt_st_out\n fstpt rt_st_out+12\n"
      ::: "eax", "ebx", "ecx", "edx", "esi", "edi", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7");
    if (rt_term) break;
  }
  for (int i = 0; i < 6; i++) RT_CHECK(rt_gout[i] == GP_WANT[i], "general register %d is 0x%x, want 0x%x", i, rt_gout[i], GP_WANT[i]);
  for (int n = 0; n < 8; n++)
    for (int w = 0; w < 4; w++)
      RT_CHECK(rt_vout[n][w] == rt_vin[n][w], "xmm%d word %d is 0x%x, want 0x%x", n, w, rt_vout[n][w], rt_vin[n][w]);
  RT_CHECK(rt_fcw_out == rt_fcw_in, "x87 control word 0x%x, want 0x%x", rt_fcw_out, rt_fcw_in);
  RT_CHECK(rt_mxcsr_out == rt_mxcsr_in, "MXCSR 0x%x, want 0x%x", rt_mxcsr_out, rt_mxcsr_in);
  long double pi = 3.14159265358979323846264338327950288L;
  RT_CHECK(rt_st_out[0] > pi - 1e-15L && rt_st_out[0] < pi + 1e-15L && rt_st_out[1] == 1.0L, "x87 stack: %Lg %Lg, want pi 1", rt_st_out[0], rt_st_out[1]);
  RT_CHECK(tls_value == 0x71577157u, "__thread variable through %%gs is 0x%x", tls_value);
  uint32_t via_fs;
  __asm__ volatile("mov %%fs:0, %0" : "=r"(via_fs));
  RT_CHECK(via_fs == 0x65656565u, "the set_thread_area slot through %%fs reads 0x%x", via_fs);
  /* New mappings still come from the 32-bit (compat) mmap range: a 64-bit address would be cut to 32 bits. */
  size_t len = 8 << 20;
  unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  RT_CHECK(m != MAP_FAILED, "mmap after restore: %s", strerror(errno));
  m[0] = 1; m[len - 1] = 2;
  RT_CHECK(m[0] == 1 && m[len - 1] == 2, "the new mapping at %p does not hold what was written", (void *)m);
  rt_pass();
}
