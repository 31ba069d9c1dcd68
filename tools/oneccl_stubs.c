/* oneccl_stubs.c: the few symbols oneCCL's CPU-only static archive (PyPI's oneccl-devel 2022.1.2,
 * lib/ccl/cpu/lib/libccl.a) expects from Intel's compiler runtime and tracing library, which no PyPI
 * package provides. tools/setup.sh links them with the archive into the shared libccl.so Horovod needs.
 *
 * - ITT (Intel's tracing API): the archive calls each function through a pointer only when the pointer
 *   is set; left NULL here, tracing is off and nothing else changes.
 * - _intel_fast_memcpy / _intel_fast_memset: the Intel compiler's names for memcpy and memset.
 */
#include <stddef.h>
#include <string.h>

void *__itt_domain_create_ptr__3_0 = NULL;
void *__itt_event_create_ptr__3_0 = NULL;
void *__itt_event_end_ptr__3_0 = NULL;
void *__itt_event_start_ptr__3_0 = NULL;
void *__itt_metadata_add_ptr__3_0 = NULL;
void *__itt_string_handle_create_ptr__3_0 = NULL;
void *__itt_task_begin_ptr__3_0 = NULL;
void *__itt_task_end_ptr__3_0 = NULL;
void *__itt_thread_set_name_ptr__3_0 = NULL;

void *_intel_fast_memcpy(void *dest, const void *src, size_t n) { return memcpy(dest, src, n); }
void *_intel_fast_memset(void *dest, int value, size_t n) { return memset(dest, value, n); }
