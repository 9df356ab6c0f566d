/*
 * ctx_x86_64.S - the context switch for x86-64 (System V ABI).
 *
 *	void cl_ctx_switch(struct cl_ctx *from, struct cl_ctx *to);
 *
 * Save the running context on its own stack, store the stack pointer in
 * from->sp, load to->sp, and restore what that stack holds.
 *
 * Why so few registers? cl_ctx_switch is an ordinary function call. The
 * ABI lets a function clobber rax, rcx, rdx, rsi, rdi, r8-r11 and the
 * vector registers, so a caller that needs them has already saved them
 * (or never kept anything there). What a function must hand back intact
 * are the callee-saved registers: rbx, rbp, r12-r15, rsp, and the control
 * bits of MXCSR (SSE rounding mode, exception masks) and of the x87
 * control word. Those are all we save. A context in the middle of a
 * computation is always suspended inside such a call, never between two
 * arbitrary instructions, and that is what makes the switch this small.
 *
 * The frame cl_ctx_switch leaves on a suspended stack, from sp upward
 * (cl_ctx_make in ctx.c builds the same frame by hand for a new context):
 *
 *	sp+0   MXCSR (4 bytes)   sp+4  x87 control word (2 bytes)
 *	sp+8   r15   sp+16 r14   sp+24 r13   sp+32 r12   sp+40 rbx   sp+48 rbp
 *	sp+56  return address
 *
 * Scratch: r8, which the ABI lets any function clobber.
 *
 * Built with -DCL_CTX_NOFPU, the switch leaves MXCSR and the x87 control
 * word alone (the frame keeps their slot, unused): every context then
 * shares one floating-point environment, as in libaco. Safe only when no
 * coroutine changes the rounding mode, the exception masks or
 * flush-to-zero, or when one that does puts them back before it yields.
 */
#ifdef __x86_64__

	.text
	.globl	cl_ctx_switch
	.type	cl_ctx_switch, @function
	.p2align 4
cl_ctx_switch:
	/* Save from's callee-saved registers on its own stack. The call
	 * that brought us here already pushed the return address. */
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	subq	$8, %rsp
#ifndef CL_CTX_NOFPU
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
#endif

	/* The switch itself: from->sp = rsp; rsp = to->sp. */
	movq	%rsp, (%rdi)
	movq	(%rsi), %rsp

	/* Restore to's registers from its stack, in reverse order. */
#ifndef CL_CTX_NOFPU
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
#endif
	addq	$8, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp

	/* Return into to: after its own call of cl_ctx_switch, or, the
	 * first time, into cl__ctx_entry below. A plain ret would do, but
	 * the CPU predicts every ret from its stack of recent calls, and
	 * this one never goes back to the call that brought us here: pop
	 * the address and jump, and the switch runs twice as fast. */
	popq	%r8
	jmpq	*%r8
	.size	cl_ctx_switch, .-cl_ctx_switch

/*
 * cl__ctx_entry: where a new context's first switch returns to.
 * cl_ctx_make put fn in the rbx slot and arg in the r12 slot, and
 * cl_ctx_switch has just popped them: pass them to the C side,
 * cl__ctx_start(fn, arg), which never returns. The stack pointer is
 * 16-byte aligned here (cl_ctx_make saw to it), as the ABI wants at a
 * call. The CFI line tells debuggers this frame has no caller, so a
 * backtrace inside a coroutine ends here.
 */
	.globl	cl__ctx_entry
	.hidden	cl__ctx_entry
	.type	cl__ctx_entry, @function
	.p2align 4
cl__ctx_entry:
	.cfi_startproc
	.cfi_undefined rip
	movq	%rbx, %rdi
	movq	%r12, %rsi
	call	cl__ctx_start@PLT
	ud2
	.cfi_endproc
	.size	cl__ctx_entry, .-cl__ctx_entry

#endif /* __x86_64__ */

/* This code needs no executable stack; say so, or ld warns. */
	.section .note.GNU-stack, "", @progbits
