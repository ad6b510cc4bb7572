/* Audit log (being written; see audit.h). */
#include "audit.h"
#include <stddef.h>

int objfs_audit_open(const char *path, uint64_t max_bytes, unsigned keep, char *err, size_t errlen)
{ (void)path; (void)max_bytes; (void)keep; (void)err; (void)errlen; return 0; }
void objfs_audit_close(void) {}
int objfs_audit_reopen(void) { return 0; }
int objfs_audit_enabled(void) { return 0; }
void objfs_audit(uid_t uid, pid_t pid, const char *tenant, const char *op, const char *path,
		 const char *to, int rc, const char *detail)
{ (void)uid; (void)pid; (void)tenant; (void)op; (void)path; (void)to; (void)rc; (void)detail; }
