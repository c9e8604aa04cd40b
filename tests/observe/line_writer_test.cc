// The access-log writer: whole lines, per-channel order, drops instead of blocking, flushing.
#include "observe/line_writer.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "pipe_reader.h"

namespace jwtgate::observe {
namespace {

using testing::Pipe;
using testing::PipeReader;

// "c<channel> <sequence> <padding>\n", the padding length varying with the sequence so that
// lines cross the ring's wrap at every offset.
std::string numberedLine(size_t channel, size_t sequence) {
  std::string line = "c" + std::to_string(channel) + " " + std::to_string(sequence) + " ";
  line.append(sequence % 97, static_cast<char>('a' + sequence % 26));
  line += '\n';
  return line;
}

std::vector<std::string> splitLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    const size_t nl = text.find('\n', start);
    if (nl == std::string::npos) {
      lines.push_back(text.substr(start));  // an unterminated tail: a partial line
      break;
    }
    lines.push_back(text.substr(start, nl - start + 1));
    start = nl + 1;
  }
  return lines;
}

// Parses a numbered line back; false when it is not exactly what numberedLine writes.
bool parseNumbered(const std::string& line, size_t* channel, size_t* sequence) {
  unsigned long c = 0;
  unsigned long s = 0;
  int consumed = 0;
  if (std::sscanf(line.c_str(), "c%lu %lu %n", &c, &s, &consumed) != 2) {
    return false;
  }
  *channel = c;
  *sequence = s;
  return line == numberedLine(c, s);
}

// Checks that every line is whole, and that each channel's lines come in increasing order.
// Returns the number of lines per channel.
std::vector<size_t> checkLines(const std::string& text, size_t channels) {
  std::vector<size_t> count(channels, 0);
  std::vector<long> last(channels, -1);
  for (const std::string& line : splitLines(text)) {
    size_t channel = 0;
    size_t sequence = 0;
    const bool whole = parseNumbered(line, &channel, &sequence);
    CAPTURE(line);
    REQUIRE(whole);
    REQUIRE(channel < channels);
    CHECK(static_cast<long>(sequence) > last[channel]);
    last[channel] = static_cast<long>(sequence);
    ++count[channel];
  }
  return count;
}

}  // namespace

TEST_SUITE("observe/line_writer") {
  TEST_CASE("lines of several producer threads arrive whole and in order per channel") {
    Pipe pipe;
    REQUIRE(pipe.write_fd >= 0);
    PipeReader reader(pipe.read_fd);
    constexpr size_t kChannels = 3;
    constexpr size_t kLines = 20000;

    LineWriter writer(pipe.write_fd);
    std::vector<LineWriter::Channel*> channels;
    for (size_t c = 0; c < kChannels; ++c) {
      // Small rings (512 bytes) so that lines wrap and the producers often find them full.
      channels.push_back(writer.openChannel(512));
    }
    writer.start();

    // Each producer retries a refused line until it fits: every line must come out once.
    std::vector<std::thread> producers;
    for (size_t c = 0; c < kChannels; ++c) {
      producers.emplace_back([&, c] {
        for (size_t s = 0; s < kLines; ++s) {
          const std::string line = numberedLine(c, s);
          while (!channels[c]->write(line)) {
            std::this_thread::yield();
          }
        }
      });
    }
    for (auto& producer : producers) {
      producer.join();
    }
    writer.stop();
    pipe.closeWrite();
    reader.join();

    const std::vector<size_t> count = checkLines(reader.text(), kChannels);
    for (size_t c = 0; c < kChannels; ++c) {
      CAPTURE(c);
      CHECK(count[c] == kLines);
      CHECK(channels[c]->written() == kLines);
    }
    CHECK(writer.totalWritten() == kChannels * kLines);
    CHECK(writer.outputLost() == 0);
  }

  TEST_CASE("lines queued before start and just before stop are all written by stop") {
    Pipe pipe;
    PipeReader reader(pipe.read_fd);
    LineWriter writer(pipe.write_fd);
    LineWriter::Channel* channel = writer.openChannel(1 << 20);
    for (size_t s = 0; s < 1000; ++s) {
      REQUIRE(channel->write(numberedLine(0, s)));
    }
    writer.start();
    for (size_t s = 1000; s < 2000; ++s) {
      REQUIRE(channel->write(numberedLine(0, s)));
    }
    writer.stop();
    pipe.closeWrite();
    reader.join();

    const std::vector<size_t> count = checkLines(reader.text(), 1);
    CHECK(count[0] == 2000);
    CHECK(channel->dropped() == 0);
    CHECK(writer.totalDropped() == 0);
  }

  TEST_CASE("a line longer than PIPE_BUF and lines around it stay whole") {
    Pipe pipe;
    PipeReader reader(pipe.read_fd);
    LineWriter writer(pipe.write_fd);
    LineWriter::Channel* channel = writer.openChannel(64 * 1024);
    const std::string long_line = std::string(20000, 'x') + "\n";
    REQUIRE(channel->write("first\n"));
    REQUIRE(channel->write(long_line));
    REQUIRE(channel->write("last\n"));
    writer.start();
    writer.stop();
    pipe.closeWrite();
    reader.join();
    CHECK(reader.text() == "first\n" + long_line + "last\n");
  }

  TEST_CASE("a channel refuses empty lines, lines without a newline and lines it cannot hold") {
    LineWriter writer(-1);
    LineWriter::Channel* channel = writer.openChannel(100);
    CHECK(channel->capacity() == 128);
    CHECK_FALSE(channel->write(""));
    CHECK_FALSE(channel->write("no newline"));
    CHECK_FALSE(channel->write(std::string(128, 'y') + "\n"));
    CHECK(channel->write(std::string(127, 'z') + "\n"));  // exactly the capacity
    CHECK_FALSE(channel->write("x\n"));                   // now full
    CHECK(channel->written() == 1);
    CHECK(channel->dropped() == 4);
    CHECK(writer.totalDropped() == 4);
  }

  TEST_CASE("when nobody reads, the producer is never blocked: lines are dropped and counted") {
    Pipe pipe;
    REQUIRE(pipe.write_fd >= 0);
    LineWriter writer(pipe.write_fd);
    LineWriter::Channel* channel = writer.openChannel(16 * 1024);
    writer.start();

    // About 2 MiB into a 64 KiB pipe and a 16 KiB ring that nobody drains: if write() could
    // block, this loop would never end.
    constexpr size_t kAttempts = 20000;
    size_t accepted = 0;
    for (size_t s = 0; s < kAttempts; ++s) {
      if (channel->write(numberedLine(0, s))) {
        ++accepted;
      }
    }
    CHECK(channel->written() == accepted);
    CHECK(channel->dropped() == kAttempts - accepted);
    CHECK(channel->dropped() > 0);

    // stop() gives up on the full pipe after its bounded wait; what it could not write is
    // counted as lost, and the pipe holds only whole lines, in order.
    writer.stop();
    pipe.closeWrite();
    const std::string text = testing::readAvailable(pipe.read_fd);
    const std::vector<size_t> count = checkLines(text, 1);
    CHECK(count[0] + writer.outputLost() == accepted);
    CHECK(writer.totalDropped() == channel->dropped() + writer.outputLost());
    CHECK(text.size() <= 1024 * 1024);  // never more than the pipe could hold
  }

  TEST_CASE("a closed reader loses the lines (counted) without killing the process") {
    Pipe pipe;
    pipe.closeRead();  // writes now fail with EPIPE (SIGPIPE is blocked in the writer)
    LineWriter writer(pipe.write_fd);
    LineWriter::Channel* channel = writer.openChannel(4096);
    for (size_t s = 0; s < 10; ++s) {
      REQUIRE(channel->write(numberedLine(0, s)));
    }
    writer.start();
    writer.stop();
    CHECK(writer.outputLost() == 10);
    CHECK(writer.totalDropped() == 10);
  }

  TEST_CASE("a regular file receives every line, channels opened while running included") {
    char path[] = "/tmp/jwtgate-line-writer-XXXXXX";
    const int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    ::unlink(path);

    LineWriter writer(fd);
    LineWriter::Channel* first = writer.openChannel(1 << 16);
    writer.start();
    LineWriter::Channel* second = writer.openChannel(1 << 16);
    for (size_t s = 0; s < 5000; ++s) {
      while (!first->write(numberedLine(0, s))) {
        std::this_thread::yield();
      }
      while (!second->write(numberedLine(1, s))) {
        std::this_thread::yield();
      }
    }
    writer.stop();

    std::string text;
    char buffer[8192];
    ssize_t n = 0;
    ::lseek(fd, 0, SEEK_SET);
    while ((n = ::read(fd, buffer, sizeof(buffer))) > 0) {
      text.append(buffer, static_cast<size_t>(n));
    }
    ::close(fd);
    const std::vector<size_t> count = checkLines(text, 2);
    CHECK(count[0] == 5000);
    CHECK(count[1] == 5000);
  }

  TEST_CASE("stop is idempotent and the writer can start again") {
    Pipe pipe;
    PipeReader reader(pipe.read_fd);
    LineWriter writer(pipe.write_fd);
    LineWriter::Channel* channel = writer.openChannel(4096);
    writer.stop();  // never started: nothing happens
    writer.start();
    REQUIRE(channel->write(numberedLine(0, 1)));
    writer.stop();
    writer.stop();
    writer.start();
    REQUIRE(channel->write(numberedLine(0, 2)));
    writer.stop();
    pipe.closeWrite();
    reader.join();
    CHECK(reader.text() == numberedLine(0, 1) + numberedLine(0, 2));
  }
}

}  // namespace jwtgate::observe
