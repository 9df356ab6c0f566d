/*
 * ctx_aarch64.S - the context switch for AArch64 (AAPCS64).
 *
 *	void cl_ctx_switch(struct cl_ctx *from, struct cl_ctx *to);
 *
 * The same idea as ctx_x86_64.S: cl_ctx_switch is a function call, so
 * the caller has already saved every register the procedure call standard
 * lets a callee clobber (x0-x18, the low halves of v0-v7 and v16-v31).
 * What a callee must preserve, and so all we save, is x19-x28, the frame
 * pointer x29, the link register x30 (our return address), sp, the low
 * 64 bits of v8-v15 (d8-d15), and FPCR (rounding mode, flush-to-zero).
 *
 * The frame, 176 bytes from sp upward (sp stays 16-byte aligned, which
 * AArch64 checks in hardware; cl_ctx_make builds the same frame):
 *
 *	sp+0    d8  d9  d10 d11 d12 d13 d14 d15
 *	sp+64   x19 x20 x21 x22 x23 x24 x25 x26 x27 x28
 *	sp+144  x29 (fp)  x30 (lr, where ret goes)
 *	sp+160  fpcr      (padding)
 *
 * With -DCL_CTX_NOFPU the FPCR is neither saved nor restored (its slot
 * stays): one floating-point environment for every context, as in
 * ctx_x86_64.S.
 */
#ifdef __aarch64__

	.text
	.globl	cl_ctx_switch
	.type	cl_ctx_switch, %function
	.p2align 4
cl_ctx_switch:
	/* Save from's callee-saved registers on its own stack. */
	sub	sp, sp, #176
	stp	d8, d9, [sp, #0]
	stp	d10, d11, [sp, #16]
	stp	d12, d13, [sp, #32]
	stp	d14, d15, [sp, #48]
	stp	x19, x20, [sp, #64]
	stp	x21, x22, [sp, #80]
	stp	x23, x24, [sp, #96]
	stp	x25, x26, [sp, #112]
	stp	x27, x28, [sp, #128]
	stp	x29, x30, [sp, #144]
#ifndef CL_CTX_NOFPU
	mrs	x9, fpcr
	str	x9, [sp, #160]
#endif

	/* The switch itself: from->sp = sp; sp = to->sp. */
	mov	x9, sp
	str	x9, [x0]
	ldr	x9, [x1]
	mov	sp, x9

	/* Restore to's registers from its stack. */
#ifndef CL_CTX_NOFPU
	ldr	x9, [sp, #160]
	msr	fpcr, x9
#endif
	ldp	x29, x30, [sp, #144]
	ldp	x27, x28, [sp, #128]
	ldp	x25, x26, [sp, #112]
	ldp	x23, x24, [sp, #96]
	ldp	x21, x22, [sp, #80]
	ldp	x19, x20, [sp, #64]
	ldp	d14, d15, [sp, #48]
	ldp	d12, d13, [sp, #32]
	ldp	d10, d11, [sp, #16]
	ldp	d8, d9, [sp, #0]
	add	sp, sp, #176

	/* Jump to x30: after to's own call, or into cl__ctx_entry. */
	ret
	.size	cl_ctx_switch, .-cl_ctx_switch

/*
 * cl__ctx_entry: where a new context's first switch returns to (x30 of
 * the frame cl_ctx_make built). fn came back in x19, arg in x20: pass
 * them to cl__ctx_start(fn, arg), which never returns. The CFI line ends
 * a debugger's backtrace here.
 */
	.globl	cl__ctx_entry
	.hidden	cl__ctx_entry
	.type	cl__ctx_entry, %function
	.p2align 4
cl__ctx_entry:
	.cfi_startproc
	.cfi_undefined x30
	mov	x0, x19
	mov	x1, x20
	bl	cl__ctx_start
	brk	#0
	.cfi_endproc
	.size	cl__ctx_entry, .-cl__ctx_entry

#endif /* __aarch64__ */

/* This code needs no executable stack; say so, or ld warns. */
	.section .note.GNU-stack, "", %progbits
