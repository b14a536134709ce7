// Early-return helpers for absl::Status and absl::StatusOr, which the absl release on
// Debian 12 (20220623) does not export.
#ifndef LAZYSNAP_BASE_STATUS_MACROS_H_
#define LAZYSNAP_BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// LAZYSNAP_RETURN_IF_ERROR(expr): evaluates expr (a Status) and returns it when not OK.
#define LAZYSNAP_RETURN_IF_ERROR(expr)             \
  do {                                             \
    ::absl::Status lazysnap_status_ = (expr);      \
    if (!lazysnap_status_.ok()) return lazysnap_status_; \
  } while (0)

#define LAZYSNAP_STATUS_CONCAT_INNER_(a, b) a##b
#define LAZYSNAP_STATUS_CONCAT_(a, b) LAZYSNAP_STATUS_CONCAT_INNER_(a, b)

// LAZYSNAP_ASSIGN_OR_RETURN(lhs, expr): evaluates expr (a StatusOr<T>); returns its status
// when not OK, otherwise moves the value into lhs (which may be a declaration).
#define LAZYSNAP_ASSIGN_OR_RETURN(lhs, expr) \
  LAZYSNAP_ASSIGN_OR_RETURN_IMPL_(           \
      LAZYSNAP_STATUS_CONCAT_(lazysnap_statusor_, __LINE__), lhs, expr)

#define LAZYSNAP_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                    \
  if (!statusor.ok()) return std::move(statusor).status();   \
  lhs = std::move(statusor).value()

#endif  // LAZYSNAP_BASE_STATUS_MACROS_H_
