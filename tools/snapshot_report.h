// Human and JSON renderings of snapshots and write summaries (inspect, create, demo).
#ifndef LAZYSNAP_TOOLS_SNAPSHOT_REPORT_H_
#define LAZYSNAP_TOOLS_SNAPSHOT_REPORT_H_

#include <cstdio>
#include <string_view>

#include "base/json_writer.h"
#include "snapshot_format/snapshot_reader.h"
#include "snapshot_format/snapshot_writer.h"
#include "tools/dictionary_estimate.h"

namespace lazysnap::cli {

// PrintSnapshot describes an opened, index-validated snapshot.
void PrintSnapshot(FILE* out, const SnapshotReader& reader);
// WriteSnapshotJson adds an "estimate" object when `estimate` is not null.
void WriteSnapshotJson(JsonWriter& json, const SnapshotReader& reader,
                       const DictionaryEstimate* estimate = nullptr);

// PrintDictionaryEstimate describes `inspect --estimate`'s result.
void PrintDictionaryEstimate(FILE* out, const DictionaryEstimate& estimate);

// PrintWriteSummary describes what `create` wrote.
void PrintWriteSummary(FILE* out, std::string_view path, const WriteSummary& summary);
void WriteSummaryJson(JsonWriter& json, std::string_view path, const WriteSummary& summary);

}  // namespace lazysnap::cli

#endif  // LAZYSNAP_TOOLS_SNAPSHOT_REPORT_H_
