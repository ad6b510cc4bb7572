/*
 * AWS credentials for the s3 provider (src/awscred.c).
 *
 * Sources, first match wins:
 *   1. the file named by the provider's `credentials` key: lines
 *      `access_key_id = ...`, `secret_access_key = ...`, optional
 *      `session_token = ...` (the aws_-prefixed names of the AWS shared
 *      credentials file are accepted too; '#' and ';' start comments); the
 *      file must not be readable or writable by group or others;
 *   2. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 *      optional AWS_SESSION_TOKEN;
 *   3. the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, else
 *      $HOME/.aws/credentials), section [AWS_PROFILE] (default "default").
 * With a `credentials` key only source 1 is used: a broken file is an error,
 * never a silent fall-back.  Error messages name files and keys, never a
 * secret value.
 */
#ifndef OBJFS_AWSCRED_H
#define OBJFS_AWSCRED_H

#include <stddef.h>

struct objfs_awscred {
	char *access_key;
	char *secret_key;
	char *session_token;             /* NULL when none */
	char source[300];                /* where they came from, for logs: a path,
					  * "path [profile]" or "environment" */
};

/* Loads credentials (see above) into *out (zeroed by the caller; cleared
 * again on error).  0, or -ENOENT (no source has credentials: the configured
 * file, or the shared file or its profile, does not exist), -EACCES (file
 * mode too open or unreadable), -EINVAL (malformed or incomplete: a key
 * without its pair, an empty value, a duplicate or unknown key, a line that
 * is not "key = value") with a one-line message in err.  Only '#' and ';' at
 * the start of a line begin a comment (secrets may contain them). */
int objfs_awscred_load(const char *path, struct objfs_awscred *out, char *err, size_t errlen);
/* Wipes and frees the strings; accepts a zeroed struct. */
void objfs_awscred_clear(struct objfs_awscred *c);

#endif
