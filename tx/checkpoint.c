/* tx: LUCID_ATOMIC's checkpoint on x86-64 (lucid_block_enter_open_) and the jump back to it. */
#include "config.h"

#include <setjmp.h>
#include <stddef.h>

#include <lucid/tx.h>
#include "stm/stm-internal.h"

/* AddressSanitizer, where the process has it (this library may be built
 * without it and the program's other files with it): the frames a jump
 * goes over may have poisoned stack left behind. */
extern void __asan_handle_no_return(void) __attribute__((weak));

#if defined(__x86_64__)
/*
 * A block's checkpoint is what sigsetjmp keeps, less the signal mask (which
 * LUCID_ATOMIC never saved) and the pointer mangling: the callee-saved
 * registers, the stack pointer after the call, its return address, and the
 * shadow-stack pointer (Intel CET; 0 when the process has none, for which
 * rdsspq reads nothing: then it is not stored, and the jump, which finds
 * none either, does not read it). It is taken and the block started in one call,
 * lucid_block_enter_open_, which ends by jumping into lucid_block_begin_own_
 * (block.c): that returns to the block as if lucid_block_enter_open_ had.
 *
 * lucid_checkpoint_jump_ puts the registers back, moves a shadow stack back
 * to where that first return left it, calls lucid_block_begin_own_ from the
 * block's stack (which starts the next attempt, or leaves the block) and
 * jumps to the return address: a return would not match the shadow stack,
 * whose entry for the first call later calls have overwritten. Between the
 * two, the unwind information says the return address is the block's.
 */
_Static_assert(offsetof(struct lucid_block_, env) == 0, "lucid_block_enter_open_ finds env first");
_Static_assert(sizeof(struct lucid_checkpoint_) == 72, "eight registers and the shadow stack");

#if defined(__CET__) && (__CET__ & 1)
#define LUCID_ENDBR_ "	endbr64\n"
#else
#define LUCID_ENDBR_ ""
#endif

__attribute__((visibility("hidden"), noreturn)) void
lucid_checkpoint_jump_(void *checkpoint, const void *block, int value);

__asm__(
	".text\n"
	".globl lucid_block_enter_open_\n"
	".type lucid_block_enter_open_, @function\n"
	".p2align 4\n"
	"lucid_block_enter_open_:\n"
	".cfi_startproc\n"
	LUCID_ENDBR_
	"	movq (%rdi), %rax\n"
	"	movq %rbx, 0(%rax)\n"
	"	movq %rbp, 8(%rax)\n"
	"	movq %r12, 16(%rax)\n"
	"	movq %r13, 24(%rax)\n"
	"	movq %r14, 32(%rax)\n"
	"	movq %r15, 40(%rax)\n"
	"	leaq 8(%rsp), %rdx\n"
	"	movq %rdx, 48(%rax)\n"
	"	movq (%rsp), %rdx\n"
	"	movq %rdx, 56(%rax)\n"
	"	xorl %edx, %edx\n"
	"	rdsspq %rdx\n"
	"	testq %rdx, %rdx\n"
	"	jz 1f\n"
	"	movq %rdx, 64(%rax)\n"
	"1:	xorl %esi, %esi\n"
	"	jmp lucid_block_begin_own_\n"
	".cfi_endproc\n"
	".size lucid_block_enter_open_, .-lucid_block_enter_open_\n"
	"\n"
	".globl lucid_checkpoint_jump_\n"
	".hidden lucid_checkpoint_jump_\n"
	".type lucid_checkpoint_jump_, @function\n"
	".p2align 4\n"
	"lucid_checkpoint_jump_:\n"
	".cfi_startproc\n"
	LUCID_ENDBR_
	"	movq %rdi, %r8\n"
	"	movq %rsi, %r9\n"
	"	movl %edx, %r10d\n"
	"	xorl %eax, %eax\n"
	"	rdsspq %rax\n"
	"	testq %rax, %rax\n"
	"	jz 2f\n"
	"	movq 64(%r8), %rcx\n"
	"	addq $8, %rcx\n"
	"	subq %rax, %rcx\n"
	"	shrq $3, %rcx\n"
	"1:	movl $255, %eax\n"
	"	cmpq %rax, %rcx\n"
	"	cmovbq %rcx, %rax\n"
	"	incsspq %rax\n"
	"	subq %rax, %rcx\n"
	"	jnz 1b\n"
	"2:	movq 0(%r8), %rbx\n"
	"	movq 8(%r8), %rbp\n"
	"	movq 16(%r8), %r12\n"
	"	movq 24(%r8), %r13\n"
	"	movq 32(%r8), %r14\n"
	"	movq 40(%r8), %r15\n"
	"	movq 48(%r8), %rsp\n"
	"	pushq 56(%r8)\n"
	"	subq $8, %rsp\n"
	".cfi_def_cfa_offset 16\n"
	"	movq %r9, %rdi\n"
	"	movl %r10d, %esi\n"
	"	call lucid_block_begin_own_\n"
	"	addq $8, %rsp\n"
	".cfi_def_cfa_offset 8\n"
	"	popq %rdx\n"
	"	notrack jmp *%rdx\n"
	".cfi_endproc\n"
	".size lucid_checkpoint_jump_, .-lucid_checkpoint_jump_\n");
#endif

void stm_jump(struct stm_tx *tx, int value)
{
	if (__asan_handle_no_return)
		__asan_handle_no_return();
#if defined(__x86_64__)
	if (tx->env_own)
		lucid_checkpoint_jump_(tx->env, tx->open[0].block, value);
#endif
	siglongjmp(*(sigjmp_buf *)tx->env, value);
}
