// CoordinatorUrl: which coordinator URLs the agent will talk to. The activation code and the
// agent's token cross that connection, so it must be https://, except to a loopback host
// (127.0.0.0/8, ::1, localhost), where tests and local development use http://. Pure functions.
#pragma once

#include <string_view>

#include "shared/errors/status.h"

namespace keyhole::agent {

class CoordinatorUrl {
 public:
  // Ok for https://…, and for http:// to a loopback host; kInvalidArgument, saying why, otherwise.
  static Status Check(std::string_view url);
  // Whether `host` (as a URL writes it: an IPv6 address in brackets) is the loopback interface.
  static bool IsLoopbackHost(std::string_view host);
  // The host of an http(s) URL's authority (brackets kept), or "" if it has none.
  static std::string_view Host(std::string_view url);
};

}  // namespace keyhole::agent
