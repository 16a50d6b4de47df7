/*
 * Page-cache advice for the spool (native/page-cache.ts): Node's fs has no posix_fadvise.
 *
 * dropCachedPages(fd, offset, length) asks the kernel to forget the clean cached pages of that range
 * (POSIX_FADV_DONTNEED); dirty pages are only queued for writeback, so callers sync first. Returns 0 or the
 * errno value. It never blocks on I/O: dropping clean pages is bookkeeping, microseconds per MiB.
 */
#define _GNU_SOURCE
#include <node_api.h>

#include <fcntl.h>
#include <stdint.h>

static napi_value js_drop_cached_pages(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t fd;
  int64_t offset, length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int64(env, argv[1], &offset) != napi_ok ||
      napi_get_value_int64(env, argv[2], &length) != napi_ok || offset < 0 || length < 0) {
    napi_throw_type_error(env, NULL, "dropCachedPages(fd, offset, length): integers >= 0 expected");
    return NULL;
  }
  napi_value result;
  napi_create_int32(env, posix_fadvise(fd, (off_t)offset, (off_t)length, POSIX_FADV_DONTNEED), &result);
  return result;
}

static napi_value init_module(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
    {"dropCachedPages", NULL, js_drop_cached_pages, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init_module)
