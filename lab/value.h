/*
 * value.h - the values that coroutines pass around.
 *
 * A generator yields a void *, is sent a void * and returns a void *, the
 * way a Python generator yields, receives and returns any object. Most
 * examples pass small integers, so these two macros carry an integer in
 * the pointer itself (no allocation), as (void *)(intptr_t)n.
 */
#ifndef CL_VALUE_H
#define CL_VALUE_H

#include <stdint.h>

#define CL_INT(n) ((void *)(intptr_t)(n))
#define CL_TOINT(p) ((intptr_t)(p))

#endif
