// System.Globalization has a CompareOptions too; a Core file importing both it and Magneton.Core.Matching means the
// comparison's knobs. (Inside Magneton.Core.* the name used to resolve through the enclosing namespace, before
// CompareOptions moved down to Matching so that Matching, Detection and Reporting no longer use the root namespace.)
global using CompareOptions = Magneton.Core.Matching.CompareOptions;
