{
  "targets": [
    {
      "target_name": "tcplab",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/checksum.cc",
        "native/segment.cc",
        "native/segment_repr.cc",
        "native/batch.cc",
        "native/netns.cc",
        "native/sender.cc",
        "native/capture.cc",
        "native/sock.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"]
    }
  ]
}
