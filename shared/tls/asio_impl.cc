// The one translation unit that compiles Boost.Asio, Asio's SSL support and Boost.Beast
// (their separate-compilation mode, see BOOST_ASIO_SEPARATE_COMPILATION and
// BOOST_BEAST_SEPARATE_COMPILATION in CMakeLists.txt). Everything else includes only headers.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
