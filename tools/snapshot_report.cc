// Snapshot and write-summary renderings.
#include "tools/snapshot_report.h"

#include <ctime>
#include <string>

#include "absl/strings/str_format.h"
#include "tools/cli.h"

namespace lazysnap::cli {
namespace {

std::string Hex(std::span<const uint8_t> bytes) {
  std::string text;
  for (uint8_t b : bytes) text += absl::StrFormat("%02x", b);
  return text;
}

std::string UtcTime(uint64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buffer[64];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buffer;
}

double Percent(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

uint64_t DictionaryBytes(const SnapshotReader& reader) {
  uint64_t bytes = 0;
  for (const format::Section& s : reader.sections()) {
    if (s.type == static_cast<uint32_t>(format::SectionType::kDictionary)) bytes += s.length_bytes;
  }
  return bytes;
}

}  // namespace

void PrintSnapshot(FILE* out, const SnapshotReader& reader) {
  const format::Header& h = reader.header();
  const IndexSummary& s = reader.summary();
  const uint64_t chunks = reader.chunk_count();
  std::fprintf(out, "snapshot    %s\n", reader.path().c_str());
  std::fprintf(out, "format      %d.%d, created %s, id %s\n", h.major_version, h.minor_version,
               UtcTime(h.created_unix_seconds).c_str(), Hex(h.snapshot_id).c_str());
  std::fprintf(out, "layout      page %s, chunk %s, zstd, XXH3-64 checksums\n",
               FormatBytes(h.page_size_bytes).c_str(), FormatBytes(h.chunk_size_bytes).c_str());
  std::fprintf(out, "memory      %s in %zu region%s (image span %s)\n",
               FormatBytes(reader.memory_size_bytes()).c_str(), reader.regions().size(),
               reader.regions().size() == 1 ? "" : "s",
               FormatBytes(reader.image_size_bytes()).c_str());
  constexpr size_t kMaxRegionsShown = 16;
  for (size_t i = 0; i < reader.regions().size() && i < kMaxRegionsShown; ++i) {
    const format::Region& r = reader.regions()[i];
    std::fprintf(out, "  region %-3zu image offset 0x%-12llx length %-10s guest address 0x%llx\n",
                 i, static_cast<unsigned long long>(r.image_offset_bytes),
                 FormatBytes(r.length_bytes).c_str(),
                 static_cast<unsigned long long>(r.guest_address));
  }
  if (reader.regions().size() > kMaxRegionsShown) {
    std::fprintf(out, "  ... %zu more regions (--json lists all)\n",
                 reader.regions().size() - kMaxRegionsShown);
  }
  std::fprintf(out,
               "chunks      %llu: zero %llu (%.1f%%), compressed %llu (%.1f%%), raw %llu "
               "(%.1f%%), duplicate %llu (%.1f%%)\n",
               static_cast<unsigned long long>(chunks),
               static_cast<unsigned long long>(s.zero_chunks), Percent(s.zero_chunks, chunks),
               static_cast<unsigned long long>(s.compressed_chunks),
               Percent(s.compressed_chunks, chunks), static_cast<unsigned long long>(s.raw_chunks),
               Percent(s.raw_chunks, chunks), static_cast<unsigned long long>(s.duplicate_chunks),
               Percent(s.duplicate_chunks, chunks));
  std::fprintf(out, "stored      %s of chunk data; compressed chunks %s -> %s (%.2fx)\n",
               FormatBytes(s.stored_chunk_bytes).c_str(),
               FormatBytes(s.compressed_input_bytes).c_str(),
               FormatBytes(s.compressed_stored_bytes).c_str(),
               s.compressed_stored_bytes == 0
                   ? 0.0
                   : static_cast<double>(s.compressed_input_bytes) / s.compressed_stored_bytes);
  std::fprintf(out, "index       %s (%llu entries in %llu segments)\n",
               FormatBytes(reader.index_size_bytes()).c_str(),
               static_cast<unsigned long long>(chunks),
               static_cast<unsigned long long>(format::IndexSegmentCount(chunks)));
  const uint64_t dictionary = DictionaryBytes(reader);
  if (dictionary > 0) {
    std::fprintf(out, "dictionary  %s (used by %llu chunks)\n", FormatBytes(dictionary).c_str(),
                 static_cast<unsigned long long>(s.dictionary_chunks));
  } else {
    std::fprintf(out, "dictionary  none\n");
  }
  std::fprintf(out, "file        %s, %.3f of memory (%.2fx smaller)\n",
               FormatBytes(reader.file_size_bytes()).c_str(),
               reader.memory_size_bytes() == 0
                   ? 0.0
                   : static_cast<double>(reader.file_size_bytes()) / reader.memory_size_bytes(),
               reader.file_size_bytes() == 0
                   ? 0.0
                   : static_cast<double>(reader.memory_size_bytes()) / reader.file_size_bytes());
}

void WriteSnapshotJson(JsonWriter& json, const SnapshotReader& reader) {
  const format::Header& h = reader.header();
  const IndexSummary& s = reader.summary();
  json.BeginObject()
      .Member("snapshot", reader.path())
      .Member("format_version", absl::StrFormat("%d.%d", h.major_version, h.minor_version))
      .Member("created_unix_seconds", h.created_unix_seconds)
      .Member("snapshot_id", Hex(h.snapshot_id))
      .Member("page_size_bytes", h.page_size_bytes)
      .Member("chunk_size_bytes", h.chunk_size_bytes)
      .Member("codec", "zstd")
      .Member("memory_bytes", reader.memory_size_bytes())
      .Member("image_size_bytes", reader.image_size_bytes())
      .Member("file_bytes", reader.file_size_bytes())
      .Member("ratio", reader.memory_size_bytes() == 0
                           ? 0.0
                           : static_cast<double>(reader.file_size_bytes()) /
                                 reader.memory_size_bytes());
  json.Key("regions").BeginArray();
  for (const format::Region& r : reader.regions()) {
    json.BeginObject()
        .Member("image_offset_bytes", r.image_offset_bytes)
        .Member("length_bytes", r.length_bytes)
        .Member("guest_address", r.guest_address)
        .EndObject();
  }
  json.EndArray();
  json.Key("chunks")
      .BeginObject()
      .Member("total", reader.chunk_count())
      .Member("zero", s.zero_chunks)
      .Member("compressed", s.compressed_chunks)
      .Member("raw", s.raw_chunks)
      .Member("duplicate", s.duplicate_chunks)
      .Member("with_dictionary", s.dictionary_chunks)
      .EndObject();
  json.Member("stored_chunk_bytes", s.stored_chunk_bytes)
      .Member("compressed_input_bytes", s.compressed_input_bytes)
      .Member("compressed_stored_bytes", s.compressed_stored_bytes)
      .Member("index_bytes", reader.index_size_bytes())
      .Member("index_segments", format::IndexSegmentCount(reader.chunk_count()))
      .Member("dictionary_bytes", DictionaryBytes(reader));
  json.Key("sections").BeginArray();
  for (const format::Section& sec : reader.sections()) {
    json.BeginObject()
        .Member("type", sec.type)
        .Member("required", (sec.flags & format::kSectionFlagRequired) != 0)
        .Member("slot", static_cast<uint32_t>(sec.slot))
        .Member("offset", sec.offset_bytes)
        .Member("length_bytes", sec.length_bytes)
        .EndObject();
  }
  json.EndArray().EndObject();
}

void PrintWriteSummary(FILE* out, std::string_view path, const WriteSummary& s) {
  std::fprintf(out,
               "%s: %s of memory -> %s (%.3f, %.2fx smaller) in %s (%s)\n"
               "  chunks %llu: zero %llu, compressed %llu, raw %llu, duplicate %llu; "
               "index %s%s\n",
               std::string(path).c_str(), FormatBytes(s.image_bytes).c_str(),
               FormatBytes(s.file_bytes).c_str(),
               s.image_bytes == 0 ? 0.0 : static_cast<double>(s.file_bytes) / s.image_bytes,
               s.file_bytes == 0 ? 0.0 : static_cast<double>(s.image_bytes) / s.file_bytes,
               FormatDuration(s.seconds).c_str(),
               FormatRate(s.image_bytes / std::max(s.seconds, 1e-9)).c_str(),
               static_cast<unsigned long long>(s.chunk_count),
               static_cast<unsigned long long>(s.zero_chunks),
               static_cast<unsigned long long>(s.compressed_chunks),
               static_cast<unsigned long long>(s.raw_chunks),
               static_cast<unsigned long long>(s.duplicate_chunks),
               FormatBytes(s.index_bytes).c_str(),
               s.dictionary_bytes > 0
                   ? absl::StrFormat(", dictionary %s", FormatBytes(s.dictionary_bytes)).c_str()
                   : "");
}

void WriteSummaryJson(JsonWriter& json, std::string_view path, const WriteSummary& s) {
  json.BeginObject()
      .Member("snapshot", path)
      .Member("memory_bytes", s.image_bytes)
      .Member("file_bytes", s.file_bytes)
      .Member("ratio", s.image_bytes == 0 ? 0.0 : static_cast<double>(s.file_bytes) / s.image_bytes)
      .Member("seconds", s.seconds)
      .Member("bytes_per_second", s.image_bytes / std::max(s.seconds, 1e-9))
      .Member("chunks", s.chunk_count)
      .Member("zero_chunks", s.zero_chunks)
      .Member("compressed_chunks", s.compressed_chunks)
      .Member("raw_chunks", s.raw_chunks)
      .Member("duplicate_chunks", s.duplicate_chunks)
      .Member("index_bytes", s.index_bytes)
      .Member("dictionary_bytes", s.dictionary_bytes)
      .Member("regions", s.region_count)
      .EndObject();
}

}  // namespace lazysnap::cli
