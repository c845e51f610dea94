# Finds every dependency (Debian 12 packages) and defines imported targets for those without
# a CMake config of their own.
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
find_package(fmt REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(Asio REQUIRED)
find_package(libcbor REQUIRED)
