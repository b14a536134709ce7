// PlaceSnapshotRegions: where each region of a snapshot lives in a VMM's address space,
// given the guest memory regions its handshake message describes.
//
// A snapshot made from a Firecracker guest memory file (`lazysnap create vm.mem`) holds
// the file's bytes: its regions are ranges of file offsets. The VMM's message says where
// each range of the file is mapped (offset -> base_host_virt_addr). Each snapshot region
// must lie inside one guest region; guest memory the snapshot does not cover (holes
// between its regions) is served as zeros by the restore session.
#ifndef LAZYSNAP_FIRECRACKER_GUEST_LAYOUT_H_
#define LAZYSNAP_FIRECRACKER_GUEST_LAYOUT_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "firecracker/handshake_message.h"
#include "snapshot_format/format.h"

namespace lazysnap::firecracker {

// PlaceSnapshotRegions returns, for each of `regions` (a snapshot's regions, in order),
// its address in the VMM. InvalidArgument, naming both sides, when the guest's memory
// extends past the end of the snapshot's image (the snapshot of another VM?), or when a
// snapshot region is not inside one guest region (it spans two: make the snapshot with
// one --region per guest region).
absl::StatusOr<std::vector<uint64_t>> PlaceSnapshotRegions(const HandshakeMessage& message,
                                                           std::span<const format::Region> regions);

}  // namespace lazysnap::firecracker

#endif  // LAZYSNAP_FIRECRACKER_GUEST_LAYOUT_H_
