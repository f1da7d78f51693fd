# Install rules for everything but the binary (gateway/CMakeLists.txt
# installs that): the man pages, the sample configuration, the systemd unit,
# the certbot deploy hook and the operator documentation.
#
# Included from the top-level CMakeLists.txt, after add_subdirectory(gateway):
#   include(packaging/install.cmake)
#
# With CMAKE_INSTALL_PREFIX=/usr (a distribution package), GNUInstallDirs
# puts the sample configuration in /etc/postern; with the default
# /usr/local, in /usr/local/etc/postern. The unit and the hook are copied
# with their paths (/usr/sbin/postern, /etc/postern/) rewritten to the
# installed ones, so they stay right under any prefix; with /usr they are
# byte for byte the files in packaging/.
#
#   cmake -S . -B build -DCMAKE_INSTALL_PREFIX=/usr
#   cmake --build build && DESTDIR=/tmp/root cmake --install build

include(GNUInstallDirs)

set(POSTERN_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
    "Directory for postern.service, relative to CMAKE_INSTALL_PREFIX or absolute")
option(POSTERN_INSTALL_SYSTEMD "Install the systemd unit" ON)

# Copies packaging/NAME to the build tree with the default paths replaced by
# the installed ones. Rewrites the copy only when its content changes, and
# re-runs CMake when the source changes.
function(postern_install_copy name out_var)
    set(src "${PROJECT_SOURCE_DIR}/packaging/${name}")
    set(dst "${PROJECT_BINARY_DIR}/packaging/${name}")
    set_property(DIRECTORY "${PROJECT_SOURCE_DIR}" APPEND PROPERTY
        CMAKE_CONFIGURE_DEPENDS "${src}")
    file(READ "${src}" text)
    string(REPLACE "/usr/sbin/postern" "${CMAKE_INSTALL_FULL_SBINDIR}/postern"
        text "${text}")
    string(REPLACE "/etc/postern/" "${CMAKE_INSTALL_FULL_SYSCONFDIR}/postern/"
        text "${text}")
    string(REPLACE "/usr/libexec/postern/"
        "${CMAKE_INSTALL_FULL_LIBEXECDIR}/postern/" text "${text}")
    set(old "")
    if(EXISTS "${dst}")
        file(READ "${dst}" old)
    endif()
    if(NOT text STREQUAL old)
        file(WRITE "${dst}" "${text}")
    endif()
    set(${out_var} "${dst}" PARENT_SCOPE)
endfunction()

# Man pages (mdoc(7); man-db renders them with groff, BSDs with mandoc).
install(FILES "${PROJECT_SOURCE_DIR}/man/postern.8"
    DESTINATION "${CMAKE_INSTALL_MANDIR}/man8")
install(FILES "${PROJECT_SOURCE_DIR}/man/postern.yaml.5"
    DESTINATION "${CMAKE_INSTALL_MANDIR}/man5")

# The sample configuration, beside the real one, which is never installed
# (an upgrade must not overwrite the operator's file).
install(FILES "${PROJECT_SOURCE_DIR}/etc/postern.yaml"
    DESTINATION "${CMAKE_INSTALL_FULL_SYSCONFDIR}/postern"
    RENAME postern.yaml.sample)

if(POSTERN_INSTALL_SYSTEMD)
    postern_install_copy(postern.service postern_unit)
    install(FILES "${postern_unit}" DESTINATION "${POSTERN_SYSTEMD_UNITDIR}")
endif()

postern_install_copy(certbot-deploy-hook.sh postern_hook)
install(PROGRAMS "${postern_hook}"
    DESTINATION "${CMAKE_INSTALL_LIBEXECDIR}/postern")

install(FILES
    "${PROJECT_SOURCE_DIR}/README.md"
    "${PROJECT_SOURCE_DIR}/docs/configuration.md"
    "${PROJECT_SOURCE_DIR}/docs/deployment.md"
    "${PROJECT_SOURCE_DIR}/docs/security.md"
    "${PROJECT_SOURCE_DIR}/docs/troubleshooting.md"
    DESTINATION "${CMAKE_INSTALL_DOCDIR}")
