// Snapshot and write-summary renderings.
#include "tools/snapshot_report.h"

#include <ctime>
#include <string>
#include <vector>

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
    if (format::IsDictionarySection(s.type)) bytes += s.length_bytes;
  }
  return bytes;
}

// DictionaryIds lists the ids of the snapshot's dictionaries ("id 123 (slot 1)").
std::string DictionaryIds(const SnapshotReader& reader) {
  std::string text;
  for (const format::Section& s : reader.sections()) {
    if (!format::IsDictionarySection(s.type)) continue;
    const DecompressionDictionary* d = reader.dictionary(s.slot);
    if (!text.empty()) text += ", ";
    text += absl::StrFormat("id %u (slot %d)", d != nullptr ? d->id() : 0, s.slot);
  }
  return text;
}

double Ratio(uint64_t input, uint64_t stored) {
  return stored == 0 ? 0.0 : static_cast<double>(input) / static_cast<double>(stored);
}

// ChainUse: what each file of a snapshot's chain serves of it.
struct ChainUse {
  uint64_t chunks = 0;        // non-zero chunks whose stored bytes are in the file
  uint64_t memory_bytes = 0;  // their uncompressed length
};

// ChainUses counts, per file of the chain, the chunks of `reader` it holds (the index is
// validated, so Locate only reads memory).
std::vector<ChainUse> ChainUses(const SnapshotReader& reader) {
  std::vector<ChainUse> uses(reader.chain_length());
  for (uint64_t chunk = 0; chunk < reader.chunk_count(); ++chunk) {
    auto location = reader.Locate(chunk);
    if (!location.ok() || location->stored.kind == format::ChunkKind::kZero) continue;
    ChainUse& use = uses[location->stored.file_index];
    ++use.chunks;
    use.memory_bytes += location->stored.length_bytes;
  }
  return uses;
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
               "(%.1f%%), duplicate %llu (%.1f%%)",
               static_cast<unsigned long long>(chunks),
               static_cast<unsigned long long>(s.zero_chunks), Percent(s.zero_chunks, chunks),
               static_cast<unsigned long long>(s.compressed_chunks),
               Percent(s.compressed_chunks, chunks), static_cast<unsigned long long>(s.raw_chunks),
               Percent(s.raw_chunks, chunks), static_cast<unsigned long long>(s.duplicate_chunks),
               Percent(s.duplicate_chunks, chunks));
  if (reader.parent() != nullptr) {
    std::fprintf(out, ", in the parent %llu (%.1f%%)",
                 static_cast<unsigned long long>(s.parent_chunks), Percent(s.parent_chunks, chunks));
  }
  std::fprintf(out, "\n");
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
    std::fprintf(out, "dictionary  %s, %s, used by %llu chunks\n", FormatBytes(dictionary).c_str(),
                 DictionaryIds(reader).c_str(),
                 static_cast<unsigned long long>(s.dictionary_chunks));
  } else {
    std::fprintf(out, "dictionary  none\n");
  }
  if (reader.parent() != nullptr) {
    const std::vector<ChainUse> uses = ChainUses(reader);
    std::fprintf(out, "chain       depth %d: this snapshot and %d ancestor%s (parent recorded as \"%s\")\n",
                 reader.chain_depth(), reader.chain_length() - 1,
                 reader.chain_length() == 2 ? "" : "s", reader.parent_reference()->name.c_str());
    for (uint32_t i = 0; i < reader.chain_length(); ++i) {
      const SnapshotReader& member = reader.chain_member(i);
      std::fprintf(out, "  [%d] %s  id %s, format %d.%d, %s; serves %llu chunks (%s)\n", i,
                   member.path().c_str(), Hex(member.header().snapshot_id).c_str(),
                   member.header().major_version, member.header().minor_version,
                   FormatBytes(member.file_size_bytes()).c_str(),
                   static_cast<unsigned long long>(uses[i].chunks),
                   FormatBytes(uses[i].memory_bytes).c_str());
    }
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

void PrintDictionaryEstimate(FILE* out, const DictionaryEstimate& e) {
  if (e.sample_chunks == 0) {
    std::fprintf(out, "estimate    nothing to estimate: %s\n",
                 e.note.empty() ? "no chunk to sample" : e.note.c_str());
    return;
  }
  std::fprintf(out,
               "estimate    %llu sampled chunks (%s) at level %d%s:\n"
               "              without a dictionary %s (%.2fx)\n"
               "              with %s %s dictionary %s (%.2fx), %.1f%% smaller\n"
               "            whole file: %s without, %s with a dictionary\n",
               static_cast<unsigned long long>(e.sample_chunks), FormatBytes(e.sample_bytes).c_str(),
               e.level, e.trained ? ", none of them trained on" : "",
               FormatBytes(e.stored_without).c_str(), Ratio(e.sample_bytes, e.stored_without),
               e.trained ? "a trained" : "its", FormatBytes(e.dictionary_bytes).c_str(),
               FormatBytes(e.stored_with).c_str(), Ratio(e.sample_bytes, e.stored_with),
               e.stored_without == 0
                   ? 0.0
                   : 100.0 * (1.0 - static_cast<double>(e.stored_with) / e.stored_without),
               FormatBytes(e.file_bytes_without).c_str(), FormatBytes(e.file_bytes_with).c_str());
  if (!e.note.empty()) std::fprintf(out, "            create would use none: %s\n", e.note.c_str());
}

void WriteSnapshotJson(JsonWriter& json, const SnapshotReader& reader,
                       const DictionaryEstimate* estimate) {
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
      .Member("parent", s.parent_chunks)
      .Member("with_dictionary", s.dictionary_chunks)
      .EndObject();
  json.Member("chain_depth", reader.chain_depth());
  if (const format::ParentReference* parent = reader.parent_reference(); parent != nullptr) {
    json.Key("parent")
        .BeginObject()
        .Member("snapshot_id", Hex(parent->snapshot_id))
        .Member("name", parent->name)
        .Member("file_bytes", parent->file_size_bytes)
        .EndObject();
    const std::vector<ChainUse> uses = ChainUses(reader);
    json.Key("chain").BeginArray();
    for (uint32_t i = 0; i < reader.chain_length(); ++i) {
      const SnapshotReader& member = reader.chain_member(i);
      json.BeginObject()
          .Member("snapshot", member.path())
          .Member("snapshot_id", Hex(member.header().snapshot_id))
          .Member("format_version", absl::StrFormat("%d.%d", member.header().major_version,
                                                    member.header().minor_version))
          .Member("chain_depth", member.chain_depth())
          .Member("file_bytes", member.file_size_bytes())
          .Member("chunks_served", uses[i].chunks)
          .Member("memory_bytes_served", uses[i].memory_bytes)
          .EndObject();
    }
    json.EndArray();
  }
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
        .Member("length_bytes", sec.length_bytes);
    if (const DecompressionDictionary* d = reader.dictionary(sec.slot);
        d != nullptr &&
        format::IsDictionarySection(sec.type)) {
      json.Member("dictionary_id", d->id());
    }
    json.EndObject();
  }
  json.EndArray();
  if (estimate != nullptr) {
    json.Key("estimate")
        .BeginObject()
        .Member("level", estimate->level)
        .Member("trained", estimate->trained)
        .Member("dictionary_bytes", estimate->dictionary_bytes)
        .Member("sample_chunks", estimate->sample_chunks)
        .Member("sample_bytes", estimate->sample_bytes)
        .Member("stored_bytes_without_dictionary", estimate->stored_without)
        .Member("stored_bytes_with_dictionary", estimate->stored_with)
        .Member("file_bytes_without_dictionary", estimate->file_bytes_without)
        .Member("file_bytes_with_dictionary", estimate->file_bytes_with)
        .Member("note", estimate->note)
        .EndObject();
  }
  json.EndObject();
}

void PrintWriteSummary(FILE* out, std::string_view path, const WriteSummary& s) {
  std::fprintf(out,
               "%s: %s of memory -> %s (%.3f, %.2fx smaller) in %s (%s)\n"
               "  chunks %llu: zero %llu, compressed %llu, raw %llu, duplicate %llu%s; "
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
               s.parent_chunks > 0 || s.incremental
                   ? absl::StrFormat(", unchanged (in the parent) %llu",
                                     static_cast<unsigned long long>(s.parent_chunks))
                         .c_str()
                   : "",
               FormatBytes(s.index_bytes).c_str(),
               s.dictionary_bytes > 0
                   ? absl::StrFormat(", dictionary %s", FormatBytes(s.dictionary_bytes)).c_str()
                   : "");
  if (s.dictionary_bytes > 0 && s.dictionary_sample_bytes > 0) {
    std::fprintf(out, "  dictionary %s%s (id %u) trained on %s of the image in %s\n",
                 FormatBytes(s.dictionary_bytes).c_str(),
                 s.dictionary_compressed
                     ? absl::StrFormat(", stored compressed in %s (format 1.2)",
                                       FormatBytes(s.dictionary_stored_bytes))
                           .c_str()
                     : "",
                 s.dictionary_id,
                 FormatBytes(s.dictionary_sample_bytes).c_str(),
                 FormatDuration(s.dictionary_seconds).c_str());
    if (!s.dictionary_note.empty()) std::fprintf(out, "  %s\n", s.dictionary_note.c_str());
  } else if (s.dictionary_bytes == 0 && !s.dictionary_note.empty()) {
    std::fprintf(out, "  no dictionary: %s\n", s.dictionary_note.c_str());
  } else if (s.dictionary_bytes > 0 && !s.dictionary_note.empty()) {
    std::fprintf(out, "  dictionary %s\n", s.dictionary_note.c_str());
  }
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
      .Member("parent_chunks", s.parent_chunks)
      .Member("incremental", s.incremental)
      .Member("index_bytes", s.index_bytes)
      .Member("dictionary_bytes", s.dictionary_bytes)
      .Member("dictionary_id", s.dictionary_id)
      .Member("dictionary_stored_bytes", s.dictionary_stored_bytes)
      .Member("dictionary_compressed", s.dictionary_compressed)
      .Member("dictionary_sample_bytes", s.dictionary_sample_bytes)
      .Member("dictionary_seconds", s.dictionary_seconds)
      .Member("dictionary_note", s.dictionary_note)
      .Member("regions", s.region_count)
      .EndObject();
}

}  // namespace lazysnap::cli
