#ifndef WEEVENT_CZOOKEEPER_SHIM_H
#define WEEVENT_CZOOKEEPER_SHIM_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zookeeper/zookeeper.h>

// The C library's state, event and mode constants are `extern const int`
// globals; these accessors give Swift plain functions to call instead of
// global variables (which strict concurrency checking would flag).
static inline int czk_state_connecting(void) { return ZOO_CONNECTING_STATE; }
static inline int czk_state_associating(void) { return ZOO_ASSOCIATING_STATE; }
static inline int czk_state_connected(void) { return ZOO_CONNECTED_STATE; }
static inline int czk_state_readonly(void) { return ZOO_READONLY_STATE; }
static inline int czk_state_expired(void) { return ZOO_EXPIRED_SESSION_STATE; }
static inline int czk_state_auth_failed(void) { return ZOO_AUTH_FAILED_STATE; }

static inline int czk_event_created(void) { return ZOO_CREATED_EVENT; }
static inline int czk_event_deleted(void) { return ZOO_DELETED_EVENT; }
static inline int czk_event_changed(void) { return ZOO_CHANGED_EVENT; }
static inline int czk_event_child(void) { return ZOO_CHILD_EVENT; }
static inline int czk_event_session(void) { return ZOO_SESSION_EVENT; }

static inline int czk_mode_persistent(void) { return ZOO_PERSISTENT; }
static inline int czk_mode_ephemeral(void) { return ZOO_EPHEMERAL; }
static inline int czk_mode_persistent_sequential(void) { return ZOO_PERSISTENT_SEQUENTIAL; }
static inline int czk_mode_ephemeral_sequential(void) { return ZOO_EPHEMERAL_SEQUENTIAL; }

static inline int czk_perm_read(void) { return ZOO_PERM_READ; }
static inline int czk_perm_write(void) { return ZOO_PERM_WRITE; }
static inline int czk_perm_create(void) { return ZOO_PERM_CREATE; }
static inline int czk_perm_delete(void) { return ZOO_PERM_DELETE; }
static inline int czk_perm_admin(void) { return ZOO_PERM_ADMIN; }

/// The C library logs to stderr at INFO by default; quieten it process-wide.
static inline void czk_set_log_level_warn(void) { zoo_set_debug_level(ZOO_LOG_LEVEL_WARN); }

#endif
