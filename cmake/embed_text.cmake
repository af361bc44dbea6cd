# Writes OUT, a C++ file defining tf::kCalibrationFiguresCsv with the text of IN (cmake -DIN=... -DOUT=... -P).
file(READ ${IN} text)
set(delim "tfcsv")
string(FIND "${text}" ")${delim}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw-string delimiter )${delim}\"")
endif()
file(WRITE ${OUT} "// Generated from ${IN} by cmake/embed_text.cmake: do not edit.\nnamespace tf {\nextern const char* const kCalibrationFiguresCsv;\nconst char* const kCalibrationFiguresCsv = R\"${delim}(${text})${delim}\";\n}  // namespace tf\n")
