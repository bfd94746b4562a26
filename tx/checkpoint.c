/* tx: LUCID_ATOMIC's checkpoint on x86-64 (lucid_block_enter_) and the jump back to it. */
#include "config.h"

#include <setjmp.h>
#include <stddef.h>

#include <lucid/tx.h>
#include "stm/stm-internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define LUCID_LIB_ASAN_ 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LUCID_LIB_ASAN_ 1
#endif
#endif
#ifdef LUCID_LIB_ASAN_
#include <sanitizer/asan_interface.h>
#endif

#if defined(__x86_64__)
/*
 * A block's checkpoint is what sigsetjmp keeps, less the signal mask (which
 * LUCID_ATOMIC never saved) and the pointer mangling: the callee-saved
 * registers, the stack pointer after the call and its return address. It is
 * taken and the block started in one call, lucid_block_enter_, which ends
 * by jumping into lucid_block_begin_own_ (block.c): that returns to the
 * block as if lucid_block_enter_ had. lucid_checkpoint_jump_ puts the
 * registers back and re-creates that call, the return address pushed where
 * it was, so that lucid_block_begin_own_ starts the next attempt (or leaves
 * the block) and returns to the block again. Each symbol's CFA stays the
 * stack pointer plus 8 up to its jump, so debuggers and unwinders see the
 * block's frame as the caller throughout.
 */
_Static_assert(offsetof(struct lucid_block_, env) == 0, "lucid_block_enter_ finds env first");
_Static_assert(sizeof(struct lucid_checkpoint_) == 64, "eight registers");

__attribute__((visibility("hidden"), noreturn)) void
lucid_checkpoint_jump_(void *checkpoint, const void *block, int value);

__asm__(
	".text\n"
	".globl lucid_block_enter_\n"
	".type lucid_block_enter_, @function\n"
	".p2align 4\n"
	"lucid_block_enter_:\n"
	".cfi_startproc\n"
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
	"	xorl %esi, %esi\n"
	"	jmp lucid_block_begin_own_\n"
	".cfi_endproc\n"
	".size lucid_block_enter_, .-lucid_block_enter_\n"
	"\n"
	".globl lucid_checkpoint_jump_\n"
	".hidden lucid_checkpoint_jump_\n"
	".type lucid_checkpoint_jump_, @function\n"
	".p2align 4\n"
	"lucid_checkpoint_jump_:\n"
	".cfi_startproc\n"
	"	movq 0(%rdi), %rbx\n"
	"	movq 8(%rdi), %rbp\n"
	"	movq 16(%rdi), %r12\n"
	"	movq 24(%rdi), %r13\n"
	"	movq 32(%rdi), %r14\n"
	"	movq 40(%rdi), %r15\n"
	"	movq 48(%rdi), %rsp\n"
	"	pushq 56(%rdi)\n"
	"	movq %rsi, %rdi\n"
	"	movl %edx, %esi\n"
	"	jmp lucid_block_begin_own_\n"
	".cfi_endproc\n"
	".size lucid_checkpoint_jump_, .-lucid_checkpoint_jump_\n");
#endif

void stm_jump(struct stm_tx *tx, int value)
{
#if defined(__x86_64__)
	if (tx->env_own) {
#ifdef LUCID_LIB_ASAN_
		/* The frames jumped over are ours: unpoison their stack. */
		__asan_handle_no_return();
#endif
		lucid_checkpoint_jump_(tx->env, tx->open[0].block, value);
	}
#endif
	siglongjmp(*(sigjmp_buf *)tx->env, value);
}
